// End-to-end, continuous mode (issue #16): the real pystrument-server (e2e/server.ts) receives continuous
// aggregates (kind "aggregate": merged samples and the counts of every request, as the SDK's continuous mode
// sends them) and a few detailed records through /api/v1/performance/batch; Debian's Chromium shows the endpoint's
// flame page switched to "All requests (continuous)": the sample count with the request count, the flame graph and
// the function shares; the endpoints table shows the continuous count beside the records' count.
import { gzipSync } from 'node:zlib'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Browser, type Page } from 'playwright-core'
import { startServer, type Running } from './server'
import { apiCall, launchChromium, screenshot } from './browser'

const ENDPOINT = 'GET /items/{item_id}'
const WINDOWS = 30 // aggregates of 10 s: 5 minutes of traffic
const HOT = 'app.items.price_with_tax'

let server: Running
let browser: Browser
let page: Page
let projectId = ''
let errors: string[] = []
let expected = { samples: 0, requests: 0, hot: 0 }

interface Node { function: string; file: string; line: number; time_ms: number; self_ms: number; samples: number; is_app: boolean; children: Node[] }
const INTERVAL = 10 // ms between samples (100 Hz)
const leaf = (fn: string, samples: number, isApp = true): Node =>
  ({ function: fn, file: `${fn.split('.').slice(0, -1).join('/')}.py`, line: 10, time_ms: samples * INTERVAL, self_ms: samples * INTERVAL, samples, is_app: isApp, children: [] })
function parent(fn: string, own: number, children: Node[], isApp = true): Node {
  const samples = own + children.reduce((a, c) => a + c.samples, 0)
  return { ...leaf(fn, own, isApp), time_ms: samples * INTERVAL, samples, children }
}

function aggregate(i: number): Record<string, unknown> {
  const hot = 40 + (i % 7), db = 25 + (i % 5), json = 10
  const view = parent('app.views.items.get_item', 3, [leaf(HOT, hot), parent('sqlalchemy.orm.Query.one', 2, [leaf('psycopg.Cursor.execute', db, false)], false), leaf('json.dumps', json, false)])
  const root = parent('[root]', 0, [view], false)
  const count = 1300 + 10 * i, errors = i % 3
  expected.samples += root.samples
  expected.requests += count
  expected.hot += hot
  return {
    schema_version: 1, record_id: `agg-${i}`, kind: 'aggregate', name: ENDPOINT,
    started_at: new Date(Date.now() - (WINDOWS - i) * 10_000).toISOString(), duration_ms: 10_000, sample_rate: 1, interval_ms: INTERVAL,
    sample_count: root.samples, app: { name: 'shop', version: '2.0.0', environment: 'production', framework: 'flask' }, call_tree: root,
    requests: { count, errors, statuses: { 200: count - errors - 5, 404: 5, 500: errors }, duration_bins: { 96: count - 20, 128: 20 }, cpu_ms: count * 0.4, max_ms: 104 },
  }
}

function detailed(i: number): Record<string, unknown> {
  const tree = { function: 'app.views.items.get_item', file: 'app/views/items.py', line: 10, time_ms: 1.2, self_ms: 0.2, is_app: true, children: [
    { function: HOT, file: 'app/items.py', line: 10, time_ms: 1.0, self_ms: 1.0, is_app: true, children: [] }] }
  return { schema_version: 1, record_id: `rec-${i}`, kind: 'request', name: ENDPOINT, method: 'GET', path: `/items/${i}`, status_code: 200,
    started_at: new Date(Date.now() - i * 5000).toISOString(), duration_ms: 1.2, sample_rate: 0.01,
    app: { name: 'shop', version: '2.0.0', environment: 'production', framework: 'flask' }, call_tree: tree }
}

const call = <T>(path: string, init: RequestInit = {}): Promise<T> => apiCall<T>(server, path, init)

const shot = (name: string): Promise<void> => screenshot(page, name)

beforeAll(async () => {
  server = await startServer()
  const project = await call<{ id: string; project_key: string }>('/api/v1/projects', { method: 'POST', body: JSON.stringify({ name: 'continuous-shop' }) })
  projectId = project.id
  const records = [...Array.from({ length: WINDOWS }, (_, i) => aggregate(i)), ...Array.from({ length: 3 }, (_, i) => detailed(i))]
  const data = await call<{ accepted: number }>('/api/v1/performance/batch', {
    method: 'POST', headers: { 'Content-Encoding': 'gzip', 'X-Project-Key': project.project_key }, body: gzipSync(JSON.stringify({ records })),
  })
  expect(data.accepted).toBe(records.length)
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  await page.addInitScript((token) => { localStorage.setItem('pystrument.token', token) }, server.token)
  page.on('pageerror', (e) => errors.push(String(e)))
})

afterEach(() => {
  const seen = errors
  errors = []
  expect(seen).toEqual([])
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

const fmt = (n: number): string => new Intl.NumberFormat('en').format(n)

describe('continuous mode', () => {
  it('shows the sample count from every request, the flame graph and the function shares', async () => {
    await page.goto(`${server.base}/projects/${projectId}/flamegraph?endpoint=${encodeURIComponent(ENDPOINT)}&mode=continuous`)
    const summary = page.locator('[data-test="continuous-summary"]')
    await summary.waitFor()
    await expect.poll(() => summary.textContent()).toBe(`${fmt(expected.samples)} samples from ${fmt(expected.requests)} requests`)
    await page.locator('[data-test="flame-canvas"]').waitFor()
    const first = page.locator('[data-test="continuous-functions"] .el-table__body tr').first()
    await expect.poll(() => first.textContent()).toContain(HOT)
    const share = (expected.hot / expected.samples) * 100
    expect(await first.textContent()).toContain(`${share.toFixed(1)}% ±`)
    await shot('continuous-flame')
    // the switch back to the detailed records: their merged flame graph over the 3 records
    await page.locator('[data-test="mode-records"]').click()
    await expect.poll(() => page.locator('[data-test="merged-count"]').textContent()).toContain('3')
  })

  it('labels the continuous count in the endpoints table, beside the records', async () => {
    await page.goto(`${server.base}/projects/${projectId}/endpoints`)
    await page.locator('[data-test="continuous-column"]').waitFor()
    await expect.poll(() => page.locator('[data-test="continuous-count"]').first().textContent()).toBe(String(expected.requests))
    await shot('continuous-endpoints')
  })

  it('speaks Chinese too', async () => {
    await page.evaluate(() => localStorage.setItem('pystrument.lang', 'zh'))
    await page.goto(`${server.base}/projects/${projectId}/flamegraph?endpoint=${encodeURIComponent(ENDPOINT)}&mode=continuous`)
    const summary = page.locator('[data-test="continuous-summary"]')
    await expect.poll(() => summary.textContent()).toContain(`个采样，来自 ${new Intl.NumberFormat('zh').format(expected.requests)} 个请求`)
    await shot('continuous-flame-zh')
    await page.evaluate(() => localStorage.setItem('pystrument.lang', 'en'))
  })
})
