import { describe, expect, it } from 'vitest'
import { createI18n } from 'vue-i18n'
import en from '@/i18n/en'
import zh from '@/i18n/zh'
import type { Analysis, Finding } from '@/api/types'
import { analysisSummary, findingTitle, severityLabel } from '@/lib/serverText'

function tr(locale: 'en' | 'zh') {
  const i18n = createI18n({ legacy: false, locale, messages: { en, zh } })
  const t = i18n.global.t as (key: string, params?: Record<string, unknown> | number) => string
  return { t, te: (key: string) => i18n.global.te(key) }
}

const nPlusOne: Finding = {
  analyser: 'n_plus_one', title: 'N+1 shape: load_customer makes at least 26 database calls under orders (62.0 ms, 70%)', function: 'load_customer',
  severity: 'high', code: 'repeated.at_least', params: { function: 'load_customer', count: 26, kind: 'db', parent: 'orders', ms: 62, share: 0.7 },
}

describe('server-made text in the UI language', () => {
  it('renders a coded title in English as the server wrote it, and in Chinese', () => {
    const { t, te } = tr('en')
    expect(findingTitle(nPlusOne, t, te)).toBe(nPlusOne.title)
    const zhT = tr('zh')
    expect(findingTitle(nPlusOne, zhT.t, zhT.te)).toBe('N+1 模式：load_customer（在 orders 下） 至少发起 26 次数据库调用（62.0 ms，70%）')
  })
  it('keeps free text (an AI provider\'s) and unknown codes as sent', () => {
    const { t, te } = tr('zh')
    expect(findingTitle({ analyser: 'ai:openai', title: '`json.dumps` 太慢' }, t, te)).toBe('`json.dumps` 太慢')
    expect(findingTitle({ ...nPlusOne, code: 'plugin.unknown' }, t, te)).toBe(nPlusOne.title)
  })
  it('translates severities and the rule-based summary', () => {
    const { t, te } = tr('zh')
    expect(severityLabel('high', t, te)).toBe('高')
    expect(severityLabel(undefined, t, te)).toBe('中')
    const a = { provider: 'rules', status: 'done', summary: '2 finding(s) from 4 rule-based analyser(s)', findings: [nPlusOne, nPlusOne] } as unknown as Analysis
    expect(analysisSummary(a, t)).toBe('规则分析器给出 2 项发现')
    expect(analysisSummary({ ...a, provider: 'openai', summary: '模型的摘要' }, t)).toBe('模型的摘要')
  })
})
