import { describe, expect, it } from 'vitest'
import { fmtCount, fmtShare, shareInterval, shareRows } from '@/lib/continuous'

describe('fmtCount', () => {
  it('groups digits by locale', () => {
    expect(fmtCount(12345)).toBe('12,345')
    expect(fmtCount(40210.4, 'en')).toBe('40,210')
  })
})

describe('shareInterval', () => {
  it('narrows as samples grow (Wilson 95%)', () => {
    const [lo1, hi1] = shareInterval(30, 100)
    const [lo2, hi2] = shareInterval(3000, 10000)
    expect(lo1).toBeCloseTo(0.2189, 3)
    expect(hi1).toBeCloseTo(0.3958, 3)
    expect(hi2 - lo2).toBeLessThan((hi1 - lo1) / 9)
    expect(lo2).toBeLessThan(0.3)
    expect(hi2).toBeGreaterThan(0.3)
  })
  it('stays inside 0..1 at the edges and says nothing without samples', () => {
    expect(shareInterval(0, 10)[0]).toBe(0)
    expect(shareInterval(10, 10)[1]).toBe(1)
    expect(shareInterval(0, 0)).toEqual([0, 1])
  })
})

describe('shareRows', () => {
  it('formats each share with its uncertainty and location', () => {
    const rows = shareRows([{ function: 'hot', file: 'app.py', line: 20, is_app: true, self_samples: 60, self_share: 0.6, self_ms: 60 }], 100)
    expect(rows[0].where).toBe('app.py:20')
    expect(rows[0].shareText).toBe(fmtShare(60, 100))
    expect(rows[0].shareText).toMatch(/^60\.0% ± 9\.\d$/)
  })
})
