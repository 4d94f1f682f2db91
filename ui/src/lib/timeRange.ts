// The dashboard's time range: by default the smallest of 24 h / 7 d / 30 d that holds all of the project's
// data (a demo's few minutes of data get 24 h of hourly buckets, not 7 days of one bar), else all of it.
import type { TrendPoint, Trends, VersionInfo } from '@/api/types'

export const RANGES = ['24h', '7d', '30d', 'all'] as const
export type Range = (typeof RANGES)[number]
const SPAN_S: Record<Exclude<Range, 'all'>, number> = { '24h': 86_400, '7d': 7 * 86_400, '30d': 30 * 86_400 }

/** The oldest first_seen of the project's versions (ISO), or null without data. */
export function oldestData(versions: VersionInfo[]): string | null {
  const firsts = versions.map((v) => v.first_seen).filter(Boolean).sort()
  return firsts[0] ?? null
}

export function fitRange(versions: VersionInfo[], now: number = Date.now()): Range {
  const oldest = oldestData(versions)
  if (!oldest) return '24h'
  const age = (now - new Date(oldest).getTime()) / 1000
  for (const r of ['24h', '7d', '30d'] as const) if (age <= SPAN_S[r]) return r
  return 'all'
}

/** The `since` and `bucket` query of a range: "all" starts at the oldest data, with buckets that fit its span. */
export function rangeQuery(range: Range, versions: VersionInfo[], now: number = Date.now()): { since: string; bucket: string } {
  if (range === '24h') return { since: '24h', bucket: '1h' }
  if (range === '7d') return { since: '7d', bucket: '6h' }
  if (range === '30d') return { since: '30d', bucket: '1d' }
  const oldest = oldestData(versions)
  const days = oldest ? (now - new Date(oldest).getTime()) / 86_400_000 : 0
  return { since: oldest ?? '30d', bucket: days > 180 ? '7d' : '1d' }
}

const EMPTY: Omit<TrendPoint, 't'> = { count: 0, error_count: 0, p50: Number.NaN, p95: Number.NaN, p99: Number.NaN }
const BUCKET_MS: Record<string, number> = { '1h': 3_600_000, '3h': 3 * 3_600_000, '6h': 6 * 3_600_000, '12h': 12 * 3_600_000, '1d': 86_400_000, '7d': 7 * 86_400_000 }

/** The whole range as buckets: the server answers only buckets with data, so a few minutes of data would be
 *  one bar filling the chart; empty buckets get zero counts and no percentiles (a gap in the lines). */
export function fillBuckets(trends: Trends, sinceMs: number, nowMs: number = Date.now()): Trends {
  const width = BUCKET_MS[trends.bucket]
  if (!width || !(sinceMs < nowMs)) return trends
  const have = new Map(trends.points.map((p) => [Math.floor(new Date(p.t).getTime() / width), p]))
  const points: TrendPoint[] = []
  const first = Math.min(Math.floor(sinceMs / width), ...have.keys())
  for (let k = first; k <= Math.floor(nowMs / width); k++) {
    points.push(have.get(k) ?? { ...EMPTY, t: new Date(k * width).toISOString() })
  }
  return { ...trends, points }
}

/** The start of a range in ms (relative ranges from now; "all" from the oldest data). */
export function rangeStart(range: Range, versions: VersionInfo[], nowMs: number = Date.now()): number {
  if (range !== 'all') return nowMs - SPAN_S[range] * 1000
  const oldest = oldestData(versions)
  return oldest ? new Date(oldest).getTime() : nowMs
}
