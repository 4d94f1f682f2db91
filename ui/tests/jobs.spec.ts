import { afterEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createI18n } from 'vue-i18n'
import type { Health, JobState } from '@/api/types'
import en from '@/i18n/en'
import { failingJobs } from '@/lib/jobs'

const api = vi.hoisted(() => ({ health: vi.fn() }))
vi.mock('@/api', () => ({ api }))
const { default: JobsNotice } = await import('@/components/JobsNotice.vue')

const ok: JobState = { state: 'ok', runs: 3, failed_runs: 0, last_ok_at: '2026-01-01T00:00:00Z', failing_projects: 0 }
const failing = (over: Partial<JobState>): JobState => ({
  ...ok, state: 'failing', failed_runs: 2, failing_projects: 1, project_id: 'p1', failures: 2,
  last_error_at: '2026-01-01T00:01:00Z', next_retry_at: '2026-01-01T00:03:00Z', last_error: 'StoreError: disk I/O error', ...over,
})
const health = (jobs: Record<string, JobState>): Health => ({ status: 'ok', store: 'sqlite', version: '1', jobs })
const i18n = createI18n({ legacy: false, locale: 'en', messages: { en } })
const stubs = { 'el-alert': { template: '<div class="alert"><slot name="title" /><slot /></div>' } }

afterEach(() => { vi.clearAllMocks() })

describe('failingJobs', () => {
  it('keeps the failing jobs of this project and the server-wide ones, newest failure first', () => {
    const h = health({
      regression_check: failing({}),
      slow_record_analysis: failing({ project_id: 'other' }),
      upkeep: failing({ project_id: null, last_error_at: '2026-01-01T00:02:00Z', last_error: 'OSError: disk full' }),
      idle: { ...ok, state: 'idle', runs: 0 },
    })
    expect(failingJobs(h, 'p1').map((n) => [n.job, n.project, n.error])).toEqual([
      ['upkeep', false, 'OSError: disk full'], ['regression_check', true, 'StoreError: disk I/O error'],
    ])
    expect(failingJobs(health({ regression_check: ok }), 'p1')).toEqual([])
    expect(failingJobs({ status: 'ok', store: 'sqlite', version: '1' }, 'p1')).toEqual([]) // an older server: no jobs
  })

  it('works without the error text (no token)', () => {
    const [n] = failingJobs(health({ regression_check: failing({ last_error: undefined }) }), 'p1')
    expect(n).toEqual({ job: 'regression_check', error: '', nextRetry: '2026-01-01T00:03:00Z', failures: 2, project: true })
  })
})

describe('JobsNotice', () => {
  it('shows a failing job of the project with its error as text, and nothing when all is well', async () => {
    api.health.mockResolvedValue(health({ regression_check: failing({ last_error: 'StoreError: <b>x</b>' }) }))
    const w = mount(JobsNotice, { props: { projectId: 'p1' }, global: { plugins: [i18n], stubs } })
    await flushPromises()
    expect(w.findAll('[data-test="jobs-notice"]').length + w.findAll('.alert').length).toBeGreaterThan(0)
    expect(w.text()).toContain('Automatic regression check is failing (2 in a row)')
    expect(w.text()).toContain('StoreError: <b>x</b>')
    expect(w.find('b').exists()).toBe(false)

    api.health.mockResolvedValue(health({ regression_check: ok }))
    const quiet = mount(JobsNotice, { props: { projectId: 'p1' }, global: { plugins: [i18n], stubs } })
    await flushPromises()
    expect(quiet.text()).toBe('')
  })

  it('stays silent when /health cannot be read', async () => {
    api.health.mockRejectedValue(new Error('network'))
    const w = mount(JobsNotice, { props: { projectId: 'p1' }, global: { plugins: [i18n], stubs } })
    await flushPromises()
    expect(w.text()).toBe('')
  })
})
