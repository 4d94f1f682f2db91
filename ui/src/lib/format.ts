// Times are formatted in the UI's language: see dates.ts (re-exported here for the views that import format).
export { fmtTime } from './dates'

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—'
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`
  if (ms >= 100) return `${ms.toFixed(0)} ms`
  if (ms >= 10) return `${ms.toFixed(1)} ms`
  return `${ms.toFixed(2)} ms`
}

export function pct(ratio: number, signed = false): string {
  const v = ratio * 100
  const s = Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(1)
  return `${signed && v > 0 ? '+' : ''}${s}%`
}

export function fmtP(p: number): string {
  if (p < 0.001) return '< 0.001'
  return p.toFixed(3)
}
