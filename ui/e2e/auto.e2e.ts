// End-to-end, automatic analysis: the real pystrument-server (e2e/server.ts, regressions checked every
// second) and Debian's Chromium. A project with automatic analysis on receives slow requests and a second
// version with a planted regression through /api/v1/performance/batch; without a click, the analyses appear
// on the endpoint's page (trigger and severity) and among the dashboard's automatic findings.
import { gzipSync } from 'node:zlib'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Browser, type Page } from 'playwright-core'
import { startServer, type Running } from './server'
import { apiCall, launchChromium, screenshot } from './browser'

const SLOW_ENDPOINT = 'GET /reports/{report_id}/export'
const SLOW_FUNCTION = 'app.reports.render_rows'
const REGRESSED = 'GET /search'

let server: Running
let browser: Browser
let page: Page
let projectId = ''
let errors: string[] = []

interface Node { function: string; file: string; line: number; time_ms: number; self_ms: number; is_app: boolean; children: Node[] }
const leaf = (fn: string, ms: number, isApp = true): Node =>
  ({ function: fn, file: `${fn.split('.').slice(0, -1).join('/')}.py`, line: 10, time_ms: ms, self_ms: ms, is_app: isApp, children: [] })
function handler(fn: string, children: Node[], ownMs: number): Node {
  const total = ownMs + children.reduce((a, c) => a + c.time_ms, 0)
  return { ...leaf(fn, ownMs), time_ms: total, children }
}

let n = 0
function record(name: string, version: string, tree: Node, ageH: number): Record<string, unknown> {
  const [method] = name.split(' ')
  return {
    schema_version: 1, record_id: `auto-${++n}`, kind: 'request', name, method, path: '/x', status_code: 200,
    started_at: new Date(Date.now() - ageH * 3600_000).toISOString(), duration_ms: tree.time_ms, cpu_ms: tree.time_ms * 0.9,
    sample_rate: 1, app: { name: 'shop', version, environment: 'production', framework: 'flask' }, call_tree: tree,
  }
}

const call = <T>(path: string, init: RequestInit = {}): Promise<T> => apiCall<T>(server, path, init)

async function ingest(key: string, records: Array<Record<string, unknown>>): Promise<void> {
  const data = await call<{ accepted: number }>('/api/v1/performance/batch', {
    method: 'POST', headers: { 'Content-Encoding': 'gzip', 'X-Project-Key': key }, body: gzipSync(JSON.stringify({ records })),
  })
  expect(data.accepted).toBe(records.length)
}

interface Listed { items: Array<{ trigger: string; status: string; endpoint: string; severity: string | null }>; total: number }
async function waitForAnalyses(query: string, count: number): Promise<Listed> {
  const deadline = Date.now() + 40_000
  for (;;) {
    const page = await call<Listed>(`/api/v1/projects/${projectId}/analyses?${query}`)
    if (page.items.filter((a) => a.status === 'done').length >= count) return page
    if (Date.now() > deadline) throw new Error(`no ${count} finished analyses for ${query}: ${JSON.stringify(page)}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

const shot = (name: string): Promise<void> => screenshot(page, name)

beforeAll(async () => {
  process.env.PYSTRUMENT_SERVER_AUTO_ANALYSIS_INTERVAL_S = '1'
  process.env.PYSTRUMENT_SERVER_AUTO_ANALYSIS_MIN_RECORDS = '20'
  server = await startServer()
  const project = await call<{ id: string; project_key: string }>('/api/v1/projects', {
    method: 'POST', body: JSON.stringify({ name: 'auto-shop', settings: { auto_analysis: { enabled: true, slow_ms: 300, per_hour: 5 } } }),
  })
  projectId = project.id
  const base: Array<Record<string, unknown>> = []
  const head: Array<Record<string, unknown>> = []
  for (let i = 0; i < 30; i++) {
    const jitter = (i % 5) * 0.7
    base.push(record(REGRESSED, '1.4.0', handler('app.views.search', [leaf('app.search.rank_results', 9 + jitter), leaf('sqlite3.Cursor.execute', 4, false)], 2), 3))
    head.push(record(REGRESSED, '1.5.0', handler('app.views.search', [leaf('app.search.rank_results', 58 + jitter), leaf('sqlite3.Cursor.execute', 4, false)], 2), 1))
    head.push(record('GET /health', '1.5.0', handler('app.views.health', [], 0.4 + jitter / 10), 1))
  }
  // three slow exports (one analysis: once per endpoint and version) among fast requests
  const slow = [900, 1200, 1050].map((ms) => record(SLOW_ENDPOINT, '1.5.0', handler('app.views.export_report', [leaf(SLOW_FUNCTION, ms * 0.8), leaf('json.encoder.iterencode', ms * 0.15, false)], ms * 0.05), 0.5))
  await ingest(project.project_key, base)
  await ingest(project.project_key, [...head, ...slow])
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
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
  delete process.env.PYSTRUMENT_SERVER_AUTO_ANALYSIS_MIN_RECORDS
})

describe.sequential('automatic analysis', () => {
  it('analyses the slowest request of the slow endpoint without a click and shows it on the endpoint page', async () => {
    const listed = await waitForAnalyses(`trigger=slow_record`, 1)
    expect(listed.total).toBe(1)
    expect(listed.items[0].endpoint).toBe(SLOW_ENDPOINT)
    await page.goto(`${server.base}/projects/${projectId}/endpoints`)
    await page.locator('[data-test="endpoint-link"]', { hasText: SLOW_ENDPOINT }).click()
    await page.waitForURL(/\/endpoint\?/)
    expect(await page.locator('[data-test="endpoint-name"]').textContent()).toBe(SLOW_ENDPOINT)
    const row = page.locator('[data-test="endpoint-analyses"] [data-test="analysis-row"]')
    await row.first().waitFor()
    expect(await row.count()).toBe(1)
    expect(await row.getAttribute('data-trigger')).toBe('slow_record')
    expect((await row.locator('[data-test="analysis-trigger"]').textContent())?.trim()).toBe('slow request')
    expect((await row.locator('[data-test="analysis-severity"]').textContent())?.trim()).toBe('high')
    expect(await row.locator('[data-test="analysis-top-finding"]').textContent()).toContain(SLOW_FUNCTION)
    // the endpoint's own latency and request charts (its trend, not the project's)
    await page.locator('[data-test="endpoint-trends"] canvas').first().waitFor()
    expect(await page.locator('[data-test="endpoint-trends"] canvas').count()).toBe(2)
    await page.waitForTimeout(600) // the charts' entry animation
    await shot('20-endpoint-auto-analysis')
    await row.locator('[data-test="analysis-row-open"]').click()
    await page.locator('[data-test="view-analysis"] [data-test="finding"]').first().waitFor()
    expect((await page.locator('[data-test="analysis-view-trigger"]').textContent())?.trim()).toBe('slow request')
  })

  it('analyses the regression between the two newest versions once and lists both on the dashboard', async () => {
    const listed = await waitForAnalyses('trigger=regression', 1)
    expect(listed.total).toBe(1)
    expect(listed.items[0].endpoint).toBe(REGRESSED)
    await page.goto(`${server.base}/projects/${projectId}`)
    const rows = page.locator('[data-test="auto-findings"] [data-test="analysis-row"]')
    await rows.nth(1).waitFor()
    expect(await rows.count()).toBe(2)
    const regression = page.locator('[data-test="auto-findings"] [data-test="analysis-row"][data-trigger="regression"]')
    expect(await regression.locator('[data-test="analysis-regression"]').textContent()).toBe('1.4.0 → 1.5.0')
    expect(await regression.locator('[data-test="analysis-top-finding"]').textContent()).toContain('app.search.rank_results')
    await shot('21-dashboard-auto-findings')
    // the regressed endpoint's page lists it as well
    await regression.getByRole('link', { name: REGRESSED }).click()
    await page.locator('[data-test="endpoint-analyses"] [data-test="analysis-row"][data-trigger="regression"]').waitFor()
    // still one regression analysis after a few more periodic runs
    await new Promise((r) => setTimeout(r, 2500))
    expect((await call<Listed>(`/api/v1/projects/${projectId}/analyses?trigger=regression`)).total).toBe(1)
  })

  it('shows and saves the project\'s automatic-analysis settings', async () => {
    await page.goto(`${server.base}/projects/${projectId}/setup`)
    const form = page.locator('[data-test="auto-settings"]')
    await form.waitFor()
    expect((await form.locator('[data-test="auto-enabled"] .is-active').textContent())?.trim()).toBe('on')
    expect(await form.locator('[data-test="auto-slow-ms"] input').inputValue()).toBe('300')
    await form.locator('[data-test="auto-per-hour"] input').fill('7')
    await form.locator('[data-test="auto-per-hour"] input').blur()
    await form.locator('[data-test="auto-save"]').click()
    await page.locator('.el-message--success').waitFor()
    await shot('23-auto-analysis-settings')
    const saved = await call<{ settings: { auto_analysis: Record<string, unknown> } }>(`/api/v1/projects/${projectId}`)
    expect(saved.settings.auto_analysis).toEqual({ enabled: true, slow_ms: 300, per_hour: 7, regressions: true })
  })

  it('speaks Simplified Chinese on the endpoint page', async () => {
    await page.evaluate(() => localStorage.setItem('pystrument.lang', 'zh'))
    await page.goto(`${server.base}/projects/${projectId}/endpoint?endpoint=${encodeURIComponent(SLOW_ENDPOINT)}`)
    const row = page.locator('[data-test="endpoint-analyses"] [data-test="analysis-row"]').first()
    await row.waitFor()
    expect((await row.locator('[data-test="analysis-trigger"]').textContent())?.trim()).toBe('慢请求')
    expect((await row.locator('[data-test="analysis-severity"]').textContent())?.trim()).toBe('高')
    await shot('22-endpoint-auto-analysis-zh')
    await page.evaluate(() => localStorage.setItem('pystrument.lang', 'en'))
  })
})
