// Text the server makes (finding titles, suggestions and evidence notes, the rule-based summary, severities)
// rendered in the UI's language: a finding carries its title, suggestion and note as message codes + parameters;
// a code this UI does not know, or a finding without one (an AI provider's, written in the requested language),
// shows the server's text.
import type { Analysis, Finding } from '@/api/types'
import { fmtMs, pct } from '@/lib/format'

type T = (key: string, params?: Record<string, unknown> | number) => string
type Te = (key: string) => boolean

export function findingTitle(f: Finding, t: T, te: Te): string {
  const key = f.code ? `finding.${f.code}` : ''
  if (!key || !te(key)) return f.title
  const p = f.params ?? {}
  const kind = String(p.kind ?? '')
  const params = {
    function: String(p.function ?? f.function ?? ''),
    ms: typeof p.ms === 'number' ? fmtMs(p.ms) : '',
    share: typeof p.share === 'number' ? pct(p.share) : '',
    count: p.count ?? '',
    kind: te(`finding.blocking.${kind}`) ? t(`finding.blocking.${kind}`) : kind,
    what: te(`finding.what.${kind}`) ? t(`finding.what.${kind}`) : kind,
    where: p.parent ? t('finding.under', { parent: String(p.parent) }) : '',
    delta: typeof p.delta_ms === 'number' ? p.delta_ms.toFixed(1) : '',
    change: typeof p.change_pct === 'number' ? `${p.change_pct >= 0 ? '+' : ''}${p.change_pct.toFixed(0)}` : '',
  }
  return t(key, params)
}

/** The suggestion (markdown source) in the UI's language from suggestion_code + params; else as sent. */
export function findingSuggestion(f: Finding, t: T, te: Te): string {
  const key = f.suggestion_code ? `suggest.${f.suggestion_code}` : ''
  if (!key || !te(key)) return f.suggestion ?? ''
  const p = f.params ?? {}
  const params: Record<string, string> = {}
  for (const [k, v] of Object.entries(p)) params[k] = k.endsWith('_ms') && typeof v === 'number' ? v.toFixed(1) : String(v ?? '')
  return t(key, params)
}

/** The evidence's note in the UI's language from note_code; else the server's text ('' when there is none). */
export function findingNote(f: Finding, t: T, te: Te): string {
  const key = f.note_code ? `note.${f.note_code}` : ''
  if (key && te(key)) return t(key)
  const note = f.evidence?.note
  return typeof note === 'string' ? note : ''
}

/** The rule-based analysis' own summary ("N finding(s) from M analysers") in the UI's language; others as sent. */
export function analysisSummary(a: Analysis, t: T): string {
  if (a.provider === 'rules' && a.status === 'done') return t('finding.rulesSummary', a.findings.length)
  return a.summary
}

export function severityLabel(s: string | undefined, t: T, te: Te): string {
  const sev = s ?? 'medium'
  return te(`auto.sev.${sev}`) ? t(`auto.sev.${sev}`) : sev
}
