// Continuous mode (issue #16): how sure a sampled figure is, shown beside it.
import type { ContinuousFunction } from '@/api/types'

/** A count with the locale's digit grouping: 12345 -> "12,345". */
export function fmtCount(n: number, locale = 'en'): string {
  return new Intl.NumberFormat(locale).format(Math.round(n))
}

/**
 * The 95% Wilson interval of a share measured as `hits` of `n` samples: [low, high] in 0..1.
 * A function seen in 30 of 100 samples is 30% ± about 9 points; in 3,000 of 10,000, ± 0.9 points.
 */
export function shareInterval(hits: number, n: number, z = 1.96): [number, number] {
  if (n <= 0) return [0, 1]
  const p = Math.min(1, Math.max(0, hits / n))
  const z2 = z * z
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n)
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))
  return [Math.max(0, centre - half), Math.min(1, centre + half)]
}

/** "30.0% ± 8.8": the share and the half-width of its 95% interval, in percentage points. */
export function fmtShare(hits: number, n: number): string {
  const [low, high] = shareInterval(hits, n)
  const share = n > 0 ? (hits / n) * 100 : 0
  return `${share.toFixed(1)}% ± ${(((high - low) / 2) * 100).toFixed(1)}`
}

export interface ShareRow extends ContinuousFunction { shareText: string; where: string }

/** The function-share table's rows: share with its uncertainty, and where the function is. */
export function shareRows(items: ContinuousFunction[], sampleCount: number): ShareRow[] {
  return items.map((f) => ({
    ...f,
    shareText: fmtShare(f.self_samples, sampleCount),
    where: f.file ? `${f.file}:${f.line}` : '',
  }))
}
