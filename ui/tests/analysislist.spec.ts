import { afterEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createI18n } from 'vue-i18n'
import type { Analysis } from '@/api/types'
import en from '@/i18n/en'

const api = vi.hoisted(() => ({ projectAnalyses: vi.fn() }))
vi.mock('@/api', () => ({ api }))
const { default: AnalysisList } = await import('@/components/AnalysisList.vue')

const XSS = '<img src=x onerror=alert(1)>'
const analysis = (over: Partial<Analysis>): Analysis => ({
  id: 'a1', record_id: 'r1', project_id: 'p', provider: 'rules', model: null, status: 'done', created_at: '2026-01-01T00:00:00Z',
  finished_at: null, summary: '', findings: [], error: null, raw: null, trigger: 'slow_record', endpoint: 'GET /x', version: '1.0',
  severity: 'medium', regression: null, ...over,
})
const i18n = createI18n({ legacy: false, locale: 'en', messages: { en } })
const stubs = {
  'el-tag': { template: '<span class="tag"><slot /></span>' },
  'el-pagination': true,
  'router-link': { props: ['to'], template: '<a><slot /></a>' },
}

afterEach(() => { vi.clearAllMocks(); vi.useRealTimers() })

describe('AnalysisList', () => {
  it('asks for the endpoint and triggers, shows trigger, severity and the most severe finding as text', async () => {
    api.projectAnalyses.mockResolvedValue({ items: [
      analysis({ findings: [{ analyser: 'a', title: 'small', severity: 'low' }, { analyser: 'b', title: XSS, severity: 'high', function: 'f' }] }),
      analysis({ id: 'a2', trigger: 'regression', severity: null, regression: { base: '1.0', head: '1.1', endpoint: 'GET /x', delta: null, functions: [] } }),
    ], total: 2, page: 1, page_size: 10 })
    const w = mount(AnalysisList, { props: { projectId: 'p', endpoint: 'GET /x', triggers: 'slow_record,regression' }, global: { plugins: [i18n], stubs } })
    await flushPromises()
    expect(api.projectAnalyses).toHaveBeenCalledWith('p', { endpoint: 'GET /x', trigger: 'slow_record,regression', page: 1, page_size: 10 })
    const rows = w.findAll('[data-test="analysis-row"]')
    expect(rows.map((r) => r.find('[data-test="analysis-trigger"]').text())).toEqual(['slow request', 'regression'])
    expect(rows[0].find('[data-test="analysis-severity"]').text()).toBe('medium')
    expect(rows[0].find('[data-test="analysis-top-finding"]').text()).toContain(XSS)
    expect(rows[0].find('[data-test="analysis-top-finding"]').text()).toContain('1 more')
    expect(w.html()).not.toContain('<img')
    expect(rows[1].find('[data-test="analysis-regression"]').text()).toBe('1.0 → 1.1')
    expect(rows[1].find('[data-test="analysis-severity"]').exists()).toBe(false)
  })

  it('refreshes while an analysis is queued or running, and stops when all are finished', async () => {
    vi.useFakeTimers()
    api.projectAnalyses
      .mockResolvedValueOnce({ items: [analysis({ status: 'queued', severity: null })], total: 1, page: 1, page_size: 10 })
      .mockResolvedValue({ items: [analysis({})], total: 1, page: 1, page_size: 10 })
    const w = mount(AnalysisList, { props: { projectId: 'p', pollMs: 500 }, global: { plugins: [i18n], stubs } })
    await flushPromises()
    expect(w.find('[data-test="analysis-row-status"]').text()).toBe('queued')
    await vi.advanceTimersByTimeAsync(500)
    await flushPromises()
    expect(api.projectAnalyses).toHaveBeenCalledTimes(2)
    expect(w.find('[data-test="analysis-row-status"]').exists()).toBe(false)
    await vi.advanceTimersByTimeAsync(5000)
    expect(api.projectAnalyses).toHaveBeenCalledTimes(2)
    w.unmount()
  })

  it('says when there is none', async () => {
    api.projectAnalyses.mockResolvedValue({ items: [], total: 0, page: 1, page_size: 10 })
    const w = mount(AnalysisList, { props: { projectId: 'p' }, global: { plugins: [i18n], stubs } })
    await flushPromises()
    expect(w.find('[data-test="analysis-list-empty"]').text()).toBe('No analysis yet.')
  })
})
