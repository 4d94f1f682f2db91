import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { createI18n } from 'vue-i18n'
import SpanTimeline from '@/components/SpanTimeline.vue'
import en from '@/i18n/en'
import zh from '@/i18n/zh'
import { MIN_WIDTH_PCT, spanBars, spanTotals } from '@/lib/spans'
import type { Span } from '@/api/types'

const spans: Span[] = [
  { kind: 'http', start_ms: 60, duration_ms: 30, method: 'GET', url: 'http://prices/v1/items?id=?', status: 200, file: '/srv/app/views.py', line: 50, function: 'prices' },
  { kind: 'sql', start_ms: 10, duration_ms: 20, statement: 'SELECT name FROM item WHERE id = ?', db: 'postgresql', file: '/srv/app/views.py', line: 42, function: 'item_list' },
  { kind: 'sql', start_ms: 40, duration_ms: 0.001, statement: 'SELECT 1', db: 'sqlite', error: 'OperationalError' },
]

describe('spanBars', () => {
  it('places spans on the unit\'s time axis in start order, with a visible minimum width', () => {
    const bars = spanBars(spans, 100)
    expect(bars.map((b) => b.span.start_ms)).toEqual([10, 40, 60])
    expect(bars[0]).toMatchObject({ label: 'SELECT name FROM item WHERE id = ?', where: 'app/views.py:42 (item_list)' })
    expect(bars[0].left).toBeCloseTo(10)
    expect(bars[0].width).toBeCloseTo(20)
    expect(bars[1].width).toBe(MIN_WIDTH_PCT)
    expect(bars[2].label).toBe('GET http://prices/v1/items?id=?')
    expect(bars[2].left).toBeCloseTo(60)
  })

  it('stretches the axis when a span outlives the unit (a call still running at its end)', () => {
    const bars = spanBars([{ kind: 'sql', start_ms: 50, duration_ms: 150 }], 100)
    expect(bars[0].left).toBe(25)
    expect(bars[0].width).toBe(75)
  })

  it('sums queries and HTTP calls', () => {
    expect(spanTotals(spans)).toEqual({ queries: 2, queryMs: 20.001, http: 1, httpMs: 30 })
  })
})

describe('SpanTimeline', () => {
  it('draws one bar per span and shows statement, duration and issuing line on hover', async () => {
    const i18n = createI18n({ legacy: false, locale: 'en', messages: { en } })
    const w = mount(SpanTimeline, { props: { spans, durationMs: 100, dropped: 4 }, global: { plugins: [i18n] } })
    expect(w.findAll('[data-test=span-bar]')).toHaveLength(3)
    expect(w.find('[data-test=span-totals]').text()).toContain('2 queries')
    expect(w.find('[data-test=span-dropped]').text()).toContain('4 more')
    await w.findAll('[data-test=span-bar]')[0].trigger('mouseenter')
    const tip = w.find('[data-test=span-tip]').text()
    expect(tip).toContain('SELECT name FROM item WHERE id = ?')
    expect(tip).toContain('views.py:42')
    expect(tip).toContain('postgresql')
  })

  it('has every text in Chinese too', () => {
    expect(Object.keys((zh as Record<string, object>).spans).sort()).toEqual(Object.keys(en.spans).sort())
  })
})
