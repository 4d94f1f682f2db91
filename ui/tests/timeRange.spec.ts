import { describe, expect, it } from 'vitest'
import type { VersionInfo } from '@/api/types'
import { fillBuckets, fitRange, rangeQuery } from '@/lib/timeRange'

const NOW = Date.parse('2026-12-04T22:30:00Z')
const v = (firstSeen: string): VersionInfo => ({ version: '1', environment: 'prod', count: 1, first_seen: firstSeen, last_seen: new Date(NOW).toISOString() })

describe('the dashboard range fits the data', () => {
  it('picks the smallest range that holds the oldest record, 24 h without data', () => {
    expect(fitRange([], NOW)).toBe('24h')
    expect(fitRange([v('2026-12-04T22:25:00Z')], NOW)).toBe('24h') // a demo's minutes
    expect(fitRange([v('2026-12-04T22:25:00Z'), v('2026-12-01T10:00:00Z')], NOW)).toBe('7d')
    expect(fitRange([v('2026-11-10T00:00:00Z')], NOW)).toBe('30d')
    expect(fitRange([v('2025-01-01T00:00:00Z')], NOW)).toBe('all')
  })
  it('"all" starts at the oldest data with buckets wide enough for its span', () => {
    expect(rangeQuery('all', [v('2026-09-01T00:00:00Z')], NOW)).toEqual({ since: '2026-09-01T00:00:00Z', bucket: '1d' })
    expect(rangeQuery('all', [v('2024-06-01T00:00:00Z')], NOW).bucket).toBe('7d')
    expect(rangeQuery('24h', [], NOW)).toEqual({ since: '24h', bucket: '1h' })
  })
  it('fills the range with empty buckets around the ones with data', () => {
    const point = { t: '2026-12-04T22:00:00Z', count: 240, error_count: 0, p50: 20, p95: 149, p99: 150 }
    const filled = fillBuckets({ bucket: '1h', points: [point] }, NOW - 86_400_000, NOW)
    expect(filled.points).toHaveLength(25) // 22:30 yesterday .. 22:30 today, in hour buckets
    expect(filled.points.at(-1)).toEqual(point)
    expect(filled.points.filter((p) => p.count > 0)).toEqual([point])
    expect(filled.points[0]).toMatchObject({ t: '2026-12-03T22:00:00.000Z', count: 0 })
    expect(Number.isNaN(filled.points[0].p95)).toBe(true) // a gap in the latency lines, not 0 ms
  })
})
