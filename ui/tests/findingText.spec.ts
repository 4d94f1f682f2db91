// The rule-based findings' suggestions and evidence notes in the UI's language. The English messages must read
// exactly as the server's templates (tests/fixtures/finding-messages.json, written from pystrument/ai/messages.py
// and checked against it by pystrument-ai/tests/test_ai_messages.py); every code has a Chinese message that
// keeps every parameter.
import { describe, expect, it } from 'vitest'
import { createI18n } from 'vue-i18n'
import en from '@/i18n/en'
import zh from '@/i18n/zh'
import type { Finding } from '@/api/types'
import { findingNote, findingSuggestion, findingTitle } from '@/lib/serverText'
import catalogue from './fixtures/finding-messages.json'

function tr(locale: 'en' | 'zh') {
  const i18n = createI18n({ legacy: false, locale, messages: { en, zh } })
  const t = i18n.global.t as (key: string, params?: Record<string, unknown> | number) => string
  return { t, te: (key: string) => i18n.global.te(key, locale) }
}

function leaves(obj: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) => (typeof v === 'string' ? [prefix + k] : leaves(v as Record<string, unknown>, `${prefix}${k}.`)))
}

const placeholders = (text: string): string[] => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1])
const sample = (text: string): Record<string, string> => Object.fromEntries(placeholders(text).map((k) => [k, `<${k}:x_1>`]))
const fill = (text: string, params: Record<string, string>): string => text.replace(/\{(\w+)\}/g, (_, k: string) => params[k])
const groups = { suggest: catalogue.suggest as Record<string, string>, note: catalogue.note as Record<string, string> }

describe('finding suggestions and notes from codes', () => {
  it('has an English message for exactly the server\'s codes, reading as the server\'s text', () => {
    const { t } = tr('en')
    for (const [group, texts] of Object.entries(groups)) {
      expect(leaves((en as unknown as Record<string, Record<string, unknown>>)[group]).sort()).toEqual(Object.keys(texts).sort())
      for (const [code, text] of Object.entries(texts)) {
        const params = sample(text)
        expect(t(`${group}.${code}`, params), `${group}.${code}`).toBe(fill(text, params))
      }
    }
  })

  it('has a Chinese message for every code that keeps every parameter', () => {
    const { t, te } = tr('zh')
    for (const [group, texts] of Object.entries(groups)) {
      for (const [code, text] of Object.entries(texts)) {
        const key = `${group}.${code}`
        expect(te(key), key).toBe(true)
        const params = sample(text)
        const out = t(key, params)
        expect(out, key).toMatch(/[\u4e00-\u9fff]/)
        for (const value of Object.values(params)) expect(out, key).toContain(value)
      }
    }
  })

  const callee: Finding = {
    analyser: 'hot_path', title: 'Hot path: render takes 60% of the time (30.0 ms)', function: 'render', severity: 'high',
    code: 'hot_path', params: { function: 'render', share: 0.6, ms: 30, callee: 'json.dumps' },
    suggestion: 'Most of this time is in `json.dumps`, called from here: call it less often (batch, cache the result, hoist it out of loops) or give it less data.',
    suggestion_code: 'hot_path.callee', note_code: 'hot_path.busy_host',
    evidence: { note: 'the thread ran on a CPU for only part of this time (the host was busy): cost_ms is the code\'s time scaled to the unit\'s CPU time, and sets the severity and saving' },
  }

  it('renders a finding\'s suggestion and note in English as the server wrote them, and in Chinese', () => {
    const e = tr('en')
    expect(findingSuggestion(callee, e.t, e.te)).toBe(callee.suggestion)
    expect(findingNote(callee, e.t, e.te)).toBe(callee.evidence?.note)
    const z = tr('zh')
    expect(findingSuggestion(callee, z.t, z.te)).toBe('这段时间大多花在从这里调用的 `json.dumps` 中：少调用它（批量处理、缓存结果、移出循环），或者给它更少的数据。')
    expect(findingNote(callee, z.t, z.te)).toContain('主机繁忙')
  })

  it('renders a regression\'s title and suggestion from its parameters', () => {
    const regressed: Finding = {
      analyser: 'regressions', title: 'Regressed: app.render +12.3 ms (+80%)', function: 'app.render', code: 'regressed',
      params: { function: 'app.render', delta_ms: 12.3, change_pct: 80 }, suggestion_code: 'regressed.compare',
      suggestion: 'Compare app.render between the two versions: the change that added 12.3 ms is in it or in what it calls.',
    }
    const e = tr('en')
    expect(findingTitle(regressed, e.t, e.te)).toBe(regressed.title)
    expect(findingSuggestion(regressed, e.t, e.te)).toBe(regressed.suggestion)
    const z = tr('zh')
    expect(findingTitle(regressed, z.t, z.te)).toBe('性能回退：app.render +12.3 ms（+80%）')
    expect(findingSuggestion(regressed, z.t, z.te)).toBe('在两个版本之间比较 app.render：增加了 12.3 ms 的改动在它或它调用的代码里。')
  })

  it('keeps free text (an AI provider\'s) and unknown codes as sent', () => {
    const { t, te } = tr('zh')
    const ai: Finding = { analyser: 'ai:openai', title: 'x', suggestion: 'Cache `load()`.', evidence: { note: 'from the model' } }
    expect(findingSuggestion(ai, t, te)).toBe('Cache `load()`.')
    expect(findingNote(ai, t, te)).toBe('from the model')
    expect(findingSuggestion({ ...callee, suggestion_code: 'plugin.unknown' }, t, te)).toBe(callee.suggestion)
    expect(findingNote({ analyser: 'x', title: 'y' }, t, te)).toBe('')
  })
})
