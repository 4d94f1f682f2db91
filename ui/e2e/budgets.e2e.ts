// End-to-end: a budget breach on live traffic is visible in the UI within one check interval: a badge on the
// endpoints table and on the endpoint page, the list on the dashboard and the endpoint page, in English and in
// Chinese. Its own server (budgets checked every second), a project budget set through the API, records ingested
// the way an SDK sends them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Browser, type Page } from 'playwright-core'
import { startServer, type Running } from './server'
import { apiCall, launchChromium, screenshot } from './browser'

const SLOW = 'GET /orders/{order_id}'
const FAST = 'GET /health'
const INTERVAL_S = 1

let server: Running
let browser: Browser
let page: Page
let projectId = ''
let ingestedAt = 0
const errors: string[] = []

function record(id: string, name: string, duration: number, queries: number): Record<string, unknown> {
  const spans = Array.from({ length: queries }, (_, i) => ({ kind: 'sql', start_ms: 1 + i, duration_ms: 0.5, statement: 'SELECT * FROM line WHERE order_id = ?',
    db: 'postgresql', file: '/srv/shop/orders.py', line: 41, function: 'order_lines' }))
  return {
    schema_version: 1, record_id: id, kind: 'request', name, method: 'GET', path: '/orders/1', status_code: 200,
    started_at: new Date(Date.now() - 60_000).toISOString(), duration_ms: duration, app: { name: 'shop', version: '2.1.0', environment: 'production' },
    call_tree: { function: 'order_view', file: '/srv/shop/orders.py', line: 30, time_ms: duration, self_ms: duration, is_app: true },
    spans,
  }
}

async function settle(): Promise<void> {
  await page.waitForFunction(() => !document.querySelector('.el-loading-mask'), null, { timeout: 10_000 }).catch(() => undefined)
}

beforeAll(async () => {
  process.env.PYSTRUMENT_SERVER_BUDGET_CHECK_INTERVAL_S = String(INTERVAL_S)
  server = await startServer()
  delete process.env.PYSTRUMENT_SERVER_BUDGET_CHECK_INTERVAL_S
  const created = await apiCall<{ id: string; project_key: string }>(server, '/api/v1/projects', { method: 'POST', body: JSON.stringify({ name: 'budget-shop' }) })
  projectId = created.id
  await apiCall(server, `/api/v1/projects/${projectId}/budgets`, { method: 'PUT', body: JSON.stringify({ budgets: [
    { endpoint: 'GET /orders/*', p95_ms: 150, queries_p95: 10, min_requests: 10 },
    { endpoint: FAST, p95_ms: 150, min_requests: 10 },
  ] }) })
  const records = [
    ...Array.from({ length: 30 }, (_, i) => record(`slow-${i}`, SLOW, 240 + i, 25)),
    ...Array.from({ length: 30 }, (_, i) => record(`fast-${i}`, FAST, 3 + (i % 4), 0)),
  ]
  const res = await fetch(`${server.base}/api/v1/performance/batch`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Project-Key': created.project_key }, body: JSON.stringify({ records }),
  }).then((r) => r.json())
  if (res.code !== 0 || res.data.accepted !== records.length) throw new Error(`ingest failed: ${JSON.stringify(res).slice(0, 400)}`)
  ingestedAt = Date.now()
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()) })
  await page.goto(server.base + '/login')
  await page.locator('input[data-test="login-token"], [data-test="login-token"] input').first().fill(server.token)
  await page.locator('[data-test="login-submit"]').click()
  await page.waitForURL((u) => u.pathname === '/')
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

describe.sequential('budgets', () => {
  it('shows the breach in the API within one check interval', async () => {
    const started = ingestedAt
    let items: Array<{ endpoint: string; metric: string }> = []
    // one interval of the check loop, plus what one check may take on a loaded machine
    while (Date.now() - started < (INTERVAL_S + 8) * 1000) {
      items = (await apiCall<{ items: typeof items }>(server, `/api/v1/projects/${projectId}/budgets/breaches`)).items
      if (items.length >= 2) break
      await new Promise((r) => setTimeout(r, 100))
    }
    console.log(`[e2e] budget breaches in the API at most ${Date.now() - started} ms after the ingest (check interval ${INTERVAL_S} s)`)
    expect(items.map((b) => `${b.endpoint} ${b.metric}`).sort()).toEqual([`${SLOW} p95_ms`, `${SLOW} queries_p95`])
  })

  it('puts a badge on the endpoint over its budget in the endpoints table, and none on the others', async () => {
    await page.goto(`${server.base}/projects/${projectId}/endpoints`)
    await page.locator('[data-test="endpoints-table"]').waitFor()
    await settle()
    const slowRow = page.locator('tr', { has: page.locator('[data-test="endpoint-link"]', { hasText: SLOW }) })
    const fastRow = page.locator('tr', { has: page.locator('[data-test="endpoint-link"]', { hasText: FAST }) })
    await slowRow.locator('[data-test="budget-badge"]').waitFor()
    expect(await slowRow.locator('[data-test="budget-badge"]').innerText()).toBe('Over budget (2)')
    expect(await fastRow.locator('[data-test="budget-badge"]').count()).toBe(0)
    await slowRow.locator('[data-test="budget-badge"]').hover()
    const tip = page.locator('[data-test="budget-badge-line"]')
    await tip.first().waitFor()
    const lines = await tip.allInnerTexts()
    expect(lines.some((l) => l.startsWith('p95 duration: ') && l.includes('over 150') && l.includes('version 2.1.0'))).toBe(true)
    expect(lines.some((l) => l.startsWith('queries per request (p95): 25 over 10'))).toBe(true)
    await screenshot(page, 'budgets-endpoints')
  })

  it('shows the badge and the breaches on the endpoint page and the list on the dashboard', async () => {
    await page.goto(`${server.base}/projects/${projectId}/endpoint?endpoint=${encodeURIComponent(SLOW)}`)
    await page.locator('[data-test="budget-breaches"]').waitFor()
    expect(await page.locator('.page-head [data-test="budget-badge"]').innerText()).toBe('Over budget (2)')
    const list = await page.locator('[data-test="budget-breaches"]').innerText()
    expect(list).toContain('Budget breaches')
    expect(list).toContain('queries per request (p95)')
    expect(list).toContain('GET /orders/*')
    await screenshot(page, 'budgets-endpoint')
    await page.goto(`${server.base}/projects/${projectId}`)
    await page.locator('[data-test="budget-breaches"]').waitFor()
    const dash = await page.locator('[data-test="budget-breaches"]').innerText()
    expect(dash).toContain(SLOW)
    expect(dash).not.toContain(FAST)
    await screenshot(page, 'budgets-dashboard')
  })

  it('says the same in Chinese', async () => {
    await page.evaluate(() => localStorage.setItem('pystrument.lang', 'zh'))
    await page.goto(`${server.base}/projects/${projectId}/endpoints`)
    const slowRow = page.locator('tr', { has: page.locator('[data-test="endpoint-link"]', { hasText: SLOW }) })
    await slowRow.locator('[data-test="budget-badge"]').waitFor()
    expect(await slowRow.locator('[data-test="budget-badge"]').innerText()).toBe('超出预算（2）')
    await screenshot(page, 'budgets-endpoints-zh')
    await page.goto(`${server.base}/projects/${projectId}`)
    await page.locator('[data-test="budget-breaches"]').waitFor()
    const dash = await page.locator('[data-test="budget-breaches"]').innerText()
    expect(dash).toContain('预算超限')
    expect(dash).toContain('每请求查询数（p95）')
    await screenshot(page, 'budgets-dashboard-zh')
    await page.evaluate(() => localStorage.setItem('pystrument.lang', 'en'))
    expect(errors).toEqual([])
  })
})
