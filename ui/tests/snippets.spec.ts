import { describe, expect, it } from 'vitest'
import { FRAMEWORKS, snippet } from '@/lib/snippets'
import en from '@/i18n/en'
import zh from '@/i18n/zh'

describe('setup snippets', () => {
  it('fill in the key and the server address for every framework', () => {
    for (const fw of FRAMEWORKS) {
      const s = snippet(fw, 'pk_abc"def', 'http://127.0.0.1:8000')
      expect(s).toContain('"pk_abc\\"def"') // quoted as a Python string literal
      expect(s).toContain('"http://127.0.0.1:8000"')
      expect(s).toMatch(/^# pip install pystrument-/)
    }
    expect(snippet('flask', 'k', 'e')).toContain('app.wsgi_app = PerformanceMiddleware(app.wsgi_app')
    expect(snippet('fastapi', 'k', 'e')).toContain('app.add_middleware(PerformanceMiddleware, config=')
    expect(snippet('decorator', 'k', 'e')).toContain('@monitor_performance')
  })
})

describe('translations', () => {
  it('have the same keys in English and Chinese', () => {
    const keys = (o: object, p = ''): string[] => Object.entries(o).flatMap(([k, v]) => (typeof v === 'object' ? keys(v, `${p}${k}.`) : [`${p}${k}`]))
    expect(keys(zh).sort()).toEqual(keys(en).sort())
  })
})
