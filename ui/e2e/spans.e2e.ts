// End-to-end: a record's spans on the time axis under its flame graph (hover shows statement, duration and the
// issuing line), and the endpoint view's queries and HTTP calls per request per version. Its own server and data.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Browser, type Page } from 'playwright-core'
import { startServer, type Running } from './server'
import { SHOTS, launchChromium } from './browser'

const ENDPOINT = 'GET /items'
const STATEMENT = 'SELECT name, price FROM item WHERE id = ?'

let server: Running
let browser: Browser
let page: Page
let projectId = ''
const errors: string[] = []

function record(id: string, version: string, perItem: number, startedAgoMs: number): Record<string, unknown> {
  const spans: Array<Record<string, unknown>> = [
    { kind: 'sql', start_ms: 1, duration_ms: 3, statement: 'SELECT id FROM item ORDER BY id LIMIT ?', db: 'postgresql', file: '/srv/shop/views.py', line: 30, function: 'item_list' },
  ]
  for (let i = 0; i < perItem; i++) {
    spans.push({ kind: 'sql', start_ms: 5 + i * 2, duration_ms: 1.5, statement: STATEMENT, db: 'postgresql', file: '/srv/shop/views.py', line: 33, function: 'item_list' })
  }
  spans.push({ kind: 'http', start_ms: 8 + perItem * 2, duration_ms: 25, method: 'GET', url: 'http://prices.internal/v1/quote?ids=?', host: 'prices.internal', status: 200, file: '/srv/shop/prices.py', line: 12, function: 'quote' })
  const duration = 40 + perItem * 2
  return {
    schema_version: 1, record_id: id, kind: 'request', name: ENDPOINT, method: 'GET', path: '/items', status_code: 200,
    started_at: new Date(Date.now() - startedAgoMs).toISOString(), duration_ms: duration, app: { name: 'shop', version, environment: 'production' },
    call_tree: { function: 'item_list', file: '/srv/shop/views.py', line: 28, time_ms: duration, self_ms: duration / 2, is_app: true,
      children: [{ function: 'Cursor.execute', file: 'psycopg/cursor.py', line: 1, time_ms: duration / 2, self_ms: duration / 2 }] },
    spans,
  }
}

beforeAll(async () => {
  server = await startServer()
  const auth = { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' }
  const created = await fetch(`${server.base}/api/v1/projects`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'spans-shop' }) }).then((r) => r.json())
  projectId = created.data.id
  const records = [
    ...Array.from({ length: 6 }, (_, i) => record(`old-${i}`, '1.0', 20, 7200_000 + i * 1000)),
    ...Array.from({ length: 6 }, (_, i) => record(`new-${i}`, '1.1', 0, 600_000 + i * 1000)),
  ]
  const res = await fetch(`${server.base}/api/v1/performance/batch`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Project-Key': created.data.project_key }, body: JSON.stringify({ records }),
  }).then((r) => r.json())
  if (res.code !== 0 || res.data.accepted !== records.length) throw new Error(`ingest failed: ${JSON.stringify(res).slice(0, 400)}`)
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

describe.sequential('spans', () => {
  it('shows the record\'s queries and HTTP calls on a time axis under the flame graph, with the issuing line on hover', async () => {
    await page.goto(`${server.base}/projects/${projectId}/records/old-0`)
    await page.locator('[data-test="span-timeline"]').waitFor()
    expect(await page.locator('[data-test="span-bar"]').count()).toBe(22)
    expect(await page.locator('[data-test="span-totals"]').innerText()).toContain('21 queries')
    // the timeline sits under the flame graph
    const flame = await page.locator('[data-test="flame-canvas"]').boundingBox()
    const timeline = await page.locator('[data-test="span-timeline"]').boundingBox()
    expect(flame && timeline && timeline.y >= flame.y + flame.height).toBe(true)
    await page.locator('[data-test="span-bar"]').nth(1).hover()
    const tip = await page.locator('[data-test="span-tip"]').innerText()
    expect(tip).toContain(STATEMENT)
    expect(tip).toContain('shop/views.py:33')
    await page.screenshot({ path: join(SHOTS, 'spans-record.png'), fullPage: true })
  })

  it('shows queries per request per version on the endpoint view', async () => {
    await page.goto(`${server.base}/projects/${projectId}/endpoint?endpoint=${encodeURIComponent(ENDPOINT)}`)
    const table = page.locator('[data-test="endpoint-spans"]')
    await table.waitFor()
    const text = await table.innerText()
    expect(text).toContain('1.0')
    expect(text).toContain('21 / 21')
    expect(text).toContain('1 / 1')
    await page.screenshot({ path: join(SHOTS, 'spans-endpoint.png'), fullPage: true })
    expect(errors).toEqual([])
  })
})
