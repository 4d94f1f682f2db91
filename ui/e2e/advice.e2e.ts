// End-to-end, advice that is checked: the real pystrument-server (e2e/server.ts, periodic work every second) and
// Debian's Chromium. Version 1.0 of an endpoint has a planted hot function (crunch) and a second hot one (render);
// a rule-based analysis of a 1.0 record finds both; 1.1 removes crunch and keeps render. Once 1.1 has its requests,
// the analysis page shows beside each finding its verdict chip and the figures: crunch confirmed with the measured
// saving, render not confirmed, in English and in Simplified Chinese.
import { gzipSync } from 'node:zlib'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Browser, type Page } from 'playwright-core'
import { startServer, type Running } from './server'
import { apiCall, launchChromium, screenshot } from './browser'

const ENDPOINT = 'GET /reports/{id}'

let server: Running
let browser: Browser
let page: Page
let projectId = ''
let analysisId = ''
let errors: string[] = []

interface Node { function: string; file: string; line: number; time_ms: number; self_ms: number; is_app: boolean; children: Node[] }
const leaf = (fn: string, line: number, ms: number): Node => ({ function: fn, file: 'app/reports.py', line, time_ms: ms, self_ms: ms, is_app: true, children: [] })

let n = 0
function record(version: string, i: number, hot: boolean, ageH: number): Record<string, unknown> {
  const children = [...(hot ? [leaf('crunch', 40, 40 + (i % 3))] : []), leaf('render', 80, 15 + (i % 2)), leaf('fetch', 20, 3)]
  const total = 2 + children.reduce((a, c) => a + c.time_ms, 0)
  return {
    schema_version: 1, record_id: `advice-${++n}`, kind: 'request', name: ENDPOINT, method: 'GET', path: '/reports/1', status_code: 200,
    started_at: new Date(Date.now() - ageH * 3600_000 + i * 1000).toISOString(), duration_ms: total,
    app: { name: 'shop', version, environment: 'production', framework: 'flask' },
    call_tree: { function: 'view', file: 'app/reports.py', line: 10, time_ms: total, self_ms: 2, is_app: true, children },
  }
}

const call = <T>(path: string, init: RequestInit = {}): Promise<T> => apiCall<T>(server, path, init)

async function ingest(key: string, records: Array<Record<string, unknown>>): Promise<void> {
  const data = await call<{ accepted: number }>('/api/v1/performance/batch', {
    method: 'POST', headers: { 'Content-Encoding': 'gzip', 'X-Project-Key': key }, body: gzipSync(JSON.stringify({ records })),
  })
  expect(data.accepted).toBe(records.length)
}

interface Analysis { status: string; findings: Array<{ function: string; check?: { verdict: string; measured_ms: number } }> }
async function waitFor(test: (a: Analysis) => boolean, what: string): Promise<Analysis> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const a = await call<Analysis>(`/api/v1/analysis/${analysisId}`)
    if (test(a)) return a
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(a)}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

beforeAll(async () => {
  process.env.PYSTRUMENT_SERVER_AUTO_ANALYSIS_INTERVAL_S = '1'
  process.env.PYSTRUMENT_SERVER_ADVICE_MIN_REQUESTS = '20'
  server = await startServer()
  const project = await call<{ id: string; project_key: string }>('/api/v1/projects', {
    method: 'POST', body: JSON.stringify({ name: 'advice-shop', settings: { auto_analysis: { enabled: false } } }),
  })
  projectId = project.id
  const v10 = Array.from({ length: 30 }, (_, i) => record('1.0', i, true, 3))
  await ingest(project.project_key, v10)
  const queued = await call<{ analysis_id: string }>(`/api/v1/analysis/analyze/${v10[0].record_id}?project_id=${projectId}`, {
    method: 'POST', body: JSON.stringify({ provider: 'rules' }),
  })
  analysisId = queued.analysis_id
  await waitFor((a) => a.status === 'done', 'the analysis did not finish')
  await ingest(project.project_key, Array.from({ length: 30 }, (_, i) => record('1.1', i, false, 1)))
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  await page.addInitScript((token) => { localStorage.setItem('pystrument.token', token) }, server.token)
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()) })
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`))
})

afterEach(() => {
  const seen = errors
  errors = []
  expect(seen, 'console errors').toEqual([])
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  delete process.env.PYSTRUMENT_SERVER_AUTO_ANALYSIS_INTERVAL_S
  delete process.env.PYSTRUMENT_SERVER_ADVICE_MIN_REQUESTS
})

const finding = (fn: string) => page.locator('[data-test="view-analysis"] [data-test="finding"]', { has: page.locator('.where', { hasText: fn }) })

describe.sequential('advice that is checked', () => {
  it('shows the verdict chip and its figures beside each finding', async () => {
    const checked = await waitFor((a) => a.findings.some((f) => f.check), 'no verdict')
    expect(checked.findings.find((f) => f.function === 'crunch')?.check?.verdict).toBe('confirmed')
    await page.goto(`${server.base}/projects/${projectId}/analyses/${analysisId}`)
    const crunch = finding('crunch')
    await crunch.locator('[data-test="advice-chip"]').waitFor()
    expect((await crunch.locator('[data-test="advice-chip"]').textContent())?.trim()).toBe('Confirmed')
    expect(await crunch.locator('[data-test="advice-check"]').getAttribute('data-verdict')).toBe('confirmed')
    expect(await crunch.locator('[data-test="advice-figures"]').textContent())
      .toMatch(/^predicted \d+(\.\d+)? ms less per request, measured 41\.0 ms less \(1\.0: 41\.0 ms → 1\.1: 0\.00 ms\)$/)
    const tip = await crunch.locator('[data-test="advice-chip"]').getAttribute('title')
    expect(tip).toContain('30 → 30 requests')
    const render = finding('render')
    expect((await render.locator('[data-test="advice-chip"]').textContent())?.trim()).toBe('Not confirmed')
    expect(await render.locator('[data-test="advice-figures"]').textContent()).toContain('measured 0.00 ms less')
    await crunch.scrollIntoViewIfNeeded()
    await screenshot(page, '30-advice-checked')
  })

  it('speaks Simplified Chinese', async () => {
    await page.evaluate(() => localStorage.setItem('pystrument.lang', 'zh'))
    await page.goto(`${server.base}/projects/${projectId}/analyses/${analysisId}`)
    const crunch = finding('crunch')
    await crunch.locator('[data-test="advice-chip"]').waitFor()
    expect((await crunch.locator('[data-test="advice-chip"]').textContent())?.trim()).toBe('已证实')
    expect(await crunch.locator('[data-test="advice-figures"]').textContent()).toContain('实测减少 41.0 ms')
    expect((await finding('render').locator('[data-test="advice-chip"]').textContent())?.trim()).toBe('未证实')
    await crunch.scrollIntoViewIfNeeded()
    await screenshot(page, '31-advice-checked-zh')
    await page.evaluate(() => localStorage.setItem('pystrument.lang', 'en'))
  })
})
