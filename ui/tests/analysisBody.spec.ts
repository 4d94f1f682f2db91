// AnalysisBody in Chinese: a rule-based finding's suggestion and note come from their codes; an AI provider's
// text is shown as the model wrote it, and the panel says so.
import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { createI18n } from 'vue-i18n'
import type { Analysis } from '@/api/types'
import en from '@/i18n/en'
import zh from '@/i18n/zh'
import AnalysisBody from '@/components/AnalysisBody.vue'

const i18n = createI18n({ legacy: false, locale: 'zh', messages: { en, zh } })
const stubs = { 'el-tag': { template: '<span class="tag"><slot /></span>' } }
const analysis = (over: Partial<Analysis>): Analysis => ({
  id: 'a1', record_id: 'r1', project_id: 'p', provider: 'rules', model: null, status: 'done', created_at: '2026-01-01T00:00:00Z',
  finished_at: null, summary: '1 finding(s)', findings: [], error: null, raw: null, trigger: 'manual', endpoint: 'GET /x', version: '1.0',
  severity: 'high', regression: null, ...over,
})
const body = (a: Analysis) => mount(AnalysisBody, { props: { analysis: a }, global: { plugins: [i18n], stubs } })

describe('AnalysisBody in Chinese', () => {
  it('renders a rule-based suggestion and note from their codes, with no model hint', () => {
    const w = body(analysis({ findings: [{
      analyser: 'async_blocking', title: 'time.sleep blocks the event loop in async code: f (30.0 ms)', function: 'f', severity: 'high',
      code: 'async_blocking.io', params: { function: 'f', ms: 30, kind: 'sleep' }, suggestion: 'Use `await asyncio.sleep(...)` instead of `time.sleep(...)`.',
      suggestion_code: 'async_blocking.io.sleep', note_code: 'async_blocking.loop_blocked',
      evidence: { note: 'the event loop serves nothing else meanwhile; the saving is loop time freed for other requests' },
    }] }))
    expect(w.find('[data-test="finding-suggestion"]').text()).toBe('用 await asyncio.sleep(...) 代替 time.sleep(...)。')
    expect(w.find('[data-test="finding-suggestion"] code').exists()).toBe(true)
    expect(w.find('[data-test="finding-title"]').text()).toBe('time.sleep在异步代码中阻塞事件循环：f（30.0 ms）')
    expect(w.find('[data-test="finding-note"]').text()).toBe('说明：这段时间里事件循环无法处理其他任何事情；节省的是为其他请求腾出的事件循环时间')
    expect(w.find('[data-test="model-text-hint"]').exists()).toBe(false)
  })

  it('shows an AI provider\'s text as written and says it is the model\'s', () => {
    const w = body(analysis({ provider: 'openai', model: 'gpt-4o-mini', summary: 'The **search** is slow.', findings: [
      { analyser: 'ai:openai', title: 'Cache `rank()`', severity: 'medium', suggestion: 'Memoise `rank()` per query.', evidence: { note: 'seen in 3 records' } }] }))
    expect(w.find('[data-test="finding-suggestion"]').text()).toBe('Memoise rank() per query.')
    expect(w.find('[data-test="finding-note"]').text()).toBe('说明：seen in 3 records')
    expect(w.find('[data-test="model-text-hint"]').text()).toBe('由模型（gpt-4o-mini）撰写：按原文显示，未经翻译。')
  })
})
