// A record's spans (SQL queries, outbound HTTP calls) laid out on the record's time axis: one row per span,
// in start order, as percentages of the unit's duration (bars too short to see get a minimum width).
import type { Span } from '@/api/types'

export interface SpanBar {
  span: Span
  label: string
  where: string
  left: number // % of the unit's duration
  width: number // %
}

export const MIN_WIDTH_PCT = 0.3

export function spanLabel(s: Span): string {
  return s.kind === 'sql' ? s.statement || '' : `${s.method || ''} ${s.url || ''}`.trim()
}

export function spanWhere(s: Span): string {
  if (!s.file) return ''
  const short = s.file.split('/').slice(-2).join('/')
  return `${short}:${s.line || 0}${s.function ? ` (${s.function})` : ''}`
}

export function spanBars(spans: Span[], durationMs: number): SpanBar[] {
  const end = Math.max(durationMs, ...spans.map((s) => s.start_ms + s.duration_ms), 1e-9)
  return [...spans]
    .sort((a, b) => a.start_ms - b.start_ms)
    .map((span) => {
      const left = Math.min(100, Math.max(0, (span.start_ms / end) * 100))
      const width = Math.min(100 - left, Math.max(MIN_WIDTH_PCT, (span.duration_ms / end) * 100))
      return { span, label: spanLabel(span), where: spanWhere(span), left, width }
    })
}

export interface SpanTotals { queries: number; queryMs: number; http: number; httpMs: number }

export function spanTotals(spans: Span[]): SpanTotals {
  const out = { queries: 0, queryMs: 0, http: 0, httpMs: 0 }
  for (const s of spans) {
    if (s.kind === 'sql') { out.queries += 1; out.queryMs += s.duration_ms } else { out.http += 1; out.httpMs += s.duration_ms }
  }
  return out
}
