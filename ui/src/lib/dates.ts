// Dates in the language chosen in the UI (not the browser's): zh → zh-CN, en → en-GB style 24 h clock.
import { i18n } from '@/i18n'

/** The BCP 47 locale of the chosen language; reading it in a render makes the render follow a language switch. */
export function dateLocale(): string {
  return i18n.global.locale.value === 'zh' ? 'zh-CN' : 'en-GB'
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return d.toLocaleString(dateLocale(), { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

/** A chart bucket's start: day and hour (the buckets are at least an hour wide). */
export function fmtBucket(iso: string): string {
  const d = new Date(iso)
  return d.toLocaleString(dateLocale(), { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
}
