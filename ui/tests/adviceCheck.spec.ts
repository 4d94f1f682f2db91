import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { createI18n } from 'vue-i18n'
import type { Finding } from '@/api/types'
import AdviceCheck from '@/components/AdviceCheck.vue'
import en from '@/i18n/en'
import zh from '@/i18n/zh'

const stubs = { 'el-tag': { props: ['type', 'title'], template: '<span class="tag" :data-type="type" :title="title"><slot /></span>' } }
const mountIn = (locale: 'en' | 'zh', finding: Finding) =>
  mount(AdviceCheck, { props: { finding }, global: { plugins: [createI18n({ legacy: false, locale, messages: { en, zh } })], stubs } })

const prediction = { target: { kind: 'function' as const, function: 'crunch' }, endpoint: 'GET /r', version: '1.0', records: 30, baseline_ms: 41, share: 0.5, predicted_ms: 20.5 }
const check = (verdict: 'confirmed' | 'partly_confirmed' | 'not_confirmed', measured: number): Finding['check'] => ({
  verdict, predicted_ms: 20.5, measured_ms: measured, before_ms: 41, after_ms: 41 - measured, version: '1.0', against: '1.1',
  requests: { before: 30, after: 25 }, records: { before: 30, after: 25 }, endpoint_ms: { before: 61, after: 61 - measured }, checked_at: '2026-01-01T00:00:00Z',
})

describe('AdviceCheck', () => {
  it('shows the prediction until a later version is measured', () => {
    const w = mountIn('en', { analyser: 'hot_path', title: 't', prediction })
    expect(w.find('[data-test="advice-chip"]').exists()).toBe(false)
    expect(w.get('[data-test="advice-prediction"]').text()).toBe('Predicted: 20.5 ms less per request (at 1.0) · checked once a later version has enough requests')
  })

  it('shows each verdict as a chip with its figures, the rule and counts in its tooltip', () => {
    const cases = [['confirmed', 41, 'Confirmed', 'success'], ['partly_confirmed', 5, 'Partly confirmed', 'warning'], ['not_confirmed', 0, 'Not confirmed', 'info']] as const
    for (const [verdict, measured, label, type] of cases) {
      const w = mountIn('en', { analyser: 'hot_path', title: 't', prediction, check: check(verdict, measured) })
      const chip = w.get('[data-test="advice-chip"]')
      expect(chip.text()).toBe(label)
      expect(chip.attributes('data-type')).toBe(type)
      expect(chip.attributes('title')).toContain('30 → 25 requests; endpoint mean 61.0 ms')
      expect(w.get('[data-test="advice-check"]').attributes('data-verdict')).toBe(verdict)
    }
    const w = mountIn('en', { analyser: 'hot_path', title: 't', prediction, check: check('confirmed', 41) })
    expect(w.get('[data-test="advice-figures"]').text()).toBe('predicted 20.5 ms less per request, measured 41.0 ms less (1.0: 41.0 ms → 1.1: 0.00 ms)')
  })

  it('speaks Simplified Chinese', () => {
    const w = mountIn('zh', { analyser: 'hot_path', title: 't', prediction, check: check('partly_confirmed', 5) })
    expect(w.get('[data-test="advice-chip"]').text()).toBe('部分证实')
    expect(w.get('[data-test="advice-figures"]').text()).toContain('实测减少 5.00 ms')
  })

  it('shows nothing for a finding without a prediction', () => {
    expect(mountIn('en', { analyser: 'x', title: 't' }).text()).toBe('')
  })
})
