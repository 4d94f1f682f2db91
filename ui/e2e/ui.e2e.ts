// End-to-end: Debian's Chromium (playwright-core, no browser download) against the real
// pystrument-server (e2e/server.ts), filled through /api/v1/performance/batch with generated data
// (e2e/generate.ts). Screenshots of every view go to e2e/screenshots/.
import { existsSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Browser, type Page } from 'playwright-core'
import { BIG_NODES, REGRESSED_ENDPOINT, REGRESSED_FUNCTION, XSS, seed, type Seeded } from './generate'
import { STATIC_DIR, startServer, type Running } from './server'
import { CHROMIUM, SHOTS, launchChromium } from './browser'


let server: Running
let data: Seeded
let browser: Browser
let page: Page
let errors: string[] = []
const dialogs: string[] = []
let allowUnauthorized = false

async function shot(name: string): Promise<void> {
  await page.waitForFunction(() => !document.querySelector('.el-loading-mask'), null, { timeout: 5000 }).catch(() => undefined)
  await page.waitForFunction(() => [...document.querySelectorAll('[data-test="echart"]')].every((c) => c.getAttribute('data-finished') === 'true'),
    null, { timeout: 5000 }) // charts have finished their entrance animation
  await page.waitForTimeout(100)
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
}

async function measures(name: string): Promise<number[]> {
  return page.evaluate((n) => performance.getEntriesByName(n, 'measure').map((m) => m.duration), name)
}

/** Element Plus puts extra attributes on the <input> itself. */
const inputOf = (test: string) => page.locator(`input[data-test="${test}"], [data-test="${test}"] input`).first()

async function pickOption(selectTest: string, text: string): Promise<void> {
  await page.locator(`[data-test="${selectTest}"]`).click()
  await page.locator('.el-select-dropdown__item:visible', { hasText: text }).first().click()
}

/** Centre of the widest frame at `depth` (or the first "other" frame), from the canvas's test hook. */
async function framePoint(pred: 'other' | number | { name: string }): Promise<{ x: number; y: number; name: string } | null> {
  return page.evaluate((p) => {
    type L = { n: number; x: Float64Array; w: Float64Array; depth: Uint16Array; nodes: Array<{ function: string; other?: boolean }> }
    const c = document.querySelector('[data-test="flame-canvas"]') as (HTMLCanvasElement & { __flame?: { layout: L; view: { start: number; width: number }; row: number } }) | null
    if (!c?.__flame) return null
    const { layout: l, view, row } = c.__flame
    const box = c.getBoundingClientRect()
    let best = -1
    for (let i = 0; i < l.n; i++) {
      const ok = p === 'other' ? !!l.nodes[i].other : typeof p === 'number' ? l.depth[i] === p : l.nodes[i].function === p.name
      if (ok && (best < 0 || l.w[i] > l.w[best])) best = i
    }
    if (best < 0) return null
    const mid = l.x[best] + l.w[best] / 2
    return { x: box.left + ((mid - view.start) / view.width) * box.width, y: box.top + l.depth[best] * row + row / 2, name: l.nodes[best].function }
  }, pred)
}

beforeAll(async () => {
  if (!existsSync(join(STATIC_DIR, 'index.html'))) throw new Error(`the UI is not built in ${STATIC_DIR}: run \`npm run build\` (or \`nox -s ui\`) first`)
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium`)
  server = await startServer()
  data = await seed(server.base, server.token)
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  page.on('console', (m) => {
    if (m.type() !== 'error') return
    if (allowUnauthorized && m.text().includes('status of 401')) return
    const where = m.location().url
    errors.push(where ? `${m.text()} (${where})` : m.text())
  })
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`))
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss() })
})

afterEach(() => {
  const seen = errors
  errors = []
  expect(seen, 'console errors').toEqual([])
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

describe.sequential('pystrument UI', () => {
  it('asks for the token, then shows the projects; the first page loads at most 500 KB of gzipped JS', async () => {
    const scripts = new Map<string, number>()
    page.on('response', async (r) => {
      if (r.request().resourceType() !== 'script') return
      try { scripts.set(r.url(), gzipSync(await r.body()).length) } catch { /* redirected */ }
    })
    allowUnauthorized = true // the first API call answers 401 and sends us to the login page
    await page.goto(server.base + '/')
    await page.waitForURL(/\/login/)
    await shot('01-login')
    allowUnauthorized = false
    await inputOf('login-token').fill(server.token)
    await page.locator('[data-test="login-submit"]').click()
    await page.waitForURL((u) => u.pathname === '/')
    await page.locator('[data-test="projects-table"]').getByText('shop-api').waitFor()
    await page.waitForLoadState('networkidle')
    const total = [...scripts.values()].reduce((a, b) => a + b, 0)
    console.log(`[e2e] first page: ${scripts.size} JS files, ${(total / 1024).toFixed(1)} KB gzipped`)
    expect(scripts.size).toBeGreaterThan(0)
    expect(total).toBeLessThanOrEqual(500 * 1024)
    await shot('02-projects')
  })

  it('creates a project and shows its key and setup snippet', async () => {
    await page.locator('[data-test="project-new"]').click()
    await inputOf('project-name').fill('e2e-created')
    await page.locator('[data-test="project-create"]').click()
    await page.locator('[data-test="projects-table"]').getByText('e2e-created').waitFor()
    await page.locator('[data-test="key-show"]').click()
    const key = (await page.locator('[data-test="project-key"]').textContent())?.trim() ?? ''
    expect(key).toMatch(/\S{8,}/)
    expect(await page.locator('[data-test="snippet"]').textContent()).toContain(key)
    await page.getByRole('tab', { name: 'Django' }).click()
    expect(await page.locator('[data-test="snippet"]').textContent()).toContain('pystrument.adapters.django.PerformanceMiddleware')
    await shot('03-project-setup')
    await page.keyboard.press('Escape')
  })

  it('shows the dashboard with charts, slowest endpoints and the planted regression', async () => {
    await page.goto(`${server.base}/projects/${data.projectId}`)
    await page.locator('[data-test="echart"] canvas').first().waitFor()
    await page.locator('[data-test="slowest"]').getByText(REGRESSED_ENDPOINT).first().waitFor()
    await page.locator('[data-test="regressions"]').getByText(REGRESSED_ENDPOINT).waitFor()
    expect(Number(await page.locator('[data-test="kpi-requests"]').textContent())).toBeGreaterThan(0)
    await shot('04-dashboard')
  })

  it('shows the project key and rotates it from the project sidebar', async () => {
    await page.locator('[data-test="nav-setup"]').click()
    await page.locator('[data-test="key-show"]').click()
    const before = (await page.locator('[data-test="project-key"]').textContent())?.trim()
    expect(before).toBe(data.projectKey)
    await page.locator('[data-test="key-rotate"]').click()
    await page.locator('.el-message-box__btns .el-button--primary').click()
    await expect.poll(async () => (await page.locator('[data-test="project-key"]').textContent())?.trim()).not.toBe(before)
    const rotated = (await page.locator('[data-test="project-key"]').textContent())?.trim() ?? ''
    expect(await page.locator('[data-test="snippet"]').textContent()).toContain(rotated)
    await shot('04b-setup-rotated')
    data.projectKey = rotated
  })

  it('lists endpoints with percentiles', async () => {
    await page.locator('[data-test="nav-endpoints"]').click()
    await page.locator('[data-test="endpoints-table"]').getByText('POST /orders').waitFor()
    const rows = page.locator('[data-test="endpoints-table"] .el-table__body-wrapper tr td:first-child')
    expect(await rows.count()).toBeGreaterThanOrEqual(5)
    expect((await rows.first().textContent())?.trim()).toBe('GET /report/big') // p95 descending
    await page.locator('[data-test="endpoints-table"] th', { hasText: 'p50' }).click() // ascending p50
    await expect.poll(async () => (await rows.first().textContent())?.trim()).toBe('GET /products')
    await shot('05-endpoints')
  })

  it('filters the records; the filters and the page are kept in the URL', async () => {
    await page.locator('[data-test="nav-records"]').click()
    await page.locator('[data-test="record-link"]').first().waitFor()
    const before = await page.locator('[data-test="records-total"]').textContent()
    await pickOption('filter-endpoint', REGRESSED_ENDPOINT)
    await page.waitForURL((u) => u.searchParams.get('endpoint') === REGRESSED_ENDPOINT)
    await expect.poll(() => page.locator('[data-test="records-total"]').textContent()).not.toBe(before)
    // each record's detailed rate in effect (the seeded records were all profiled at 1.0)
    expect(new Set(await page.locator('[data-test="record-rate"]').allTextContents())).toEqual(new Set(['100%']))
    const names = await page.locator('[data-test="record-link"]').allTextContents()
    expect(names.length).toBeGreaterThan(0)
    expect(new Set(names)).toEqual(new Set([REGRESSED_ENDPOINT]))
    await pickOption('filter-version', '1.5.0')
    await page.waitForURL((u) => u.searchParams.get('version') === '1.5.0' && u.searchParams.get('endpoint') === REGRESSED_ENDPOINT)
    await shot('06-records-filtered')
    await page.goto(`${server.base}/projects/${data.projectId}/records?page=2&page_size=20`)
    await page.locator('.el-pager li.is-active', { hasText: '2' }).waitFor()
    await shot('07-records-page2')
    await pickOption('filter-status', '5xx') // a filter goes back to the first page
    await page.waitForURL((u) => u.searchParams.get('status') === '5xx' && u.searchParams.get('page') !== '2')
    await expect.poll(async () => new Set(await page.locator('[data-test="record-status"]').allTextContents())).toEqual(new Set(['500']))
  })

  it('renders a 20,000-node flame graph within 300 ms and zooms within 50 ms on click', async () => {
    await page.goto(`${server.base}/projects/${data.projectId}/records/${data.bigRecordId}`)
    const canvas = page.locator('[data-test="flame-canvas"]')
    await expect.poll(() => canvas.getAttribute('data-nodes'), { timeout: 30_000 }).toBe(String(BIG_NODES))
    const render = await measures('flame-render')
    const target = await framePoint(2)
    expect(target).not.toBeNull()
    await page.mouse.move(target!.x, target!.y)
    await page.locator('[data-test="flame-tip"]').waitFor()
    await page.mouse.click(target!.x, target!.y)
    await expect.poll(() => canvas.getAttribute('data-focus')).toBe(target!.name)
    await page.mouse.move(target!.x, target!.y + 40)
    await shot('08-record-flame-zoomed')
    await inputOf('flame-search').fill('decimal')
    await page.getByText(/\d+ matches/).waitFor()
    await shot('08b-record-flame-search')
    await inputOf('flame-search').fill('')
    for (let k = 0; k < 8; k++) { // zoom back and forth to get several samples
      await page.locator('button', { hasText: 'Reset zoom' }).click()
      const p = await framePoint(1)
      await page.mouse.click(p!.x, p!.y)
    }
    const zoom = await measures('flame-zoom')
    console.log(`[e2e] flame graph ${BIG_NODES} nodes: render ${render.map((x) => x.toFixed(1)).join(', ')} ms; zoom ${zoom.map((x) => x.toFixed(1)).join(', ')} ms (max ${Math.max(...zoom).toFixed(1)})`)
    expect(render.length).toBeGreaterThan(0)
    expect(Math.max(...render)).toBeLessThanOrEqual(300)
    expect(zoom.length).toBeGreaterThanOrEqual(5)
    expect(Math.max(...zoom)).toBeLessThanOrEqual(50)
  })

  it('shows the call tree, top functions and metadata of a record', async () => {
    // the rate the overhead governor had set when the record's request started (its sample_rate)
    expect(await page.locator('[data-test="record-detailed-rate"]').textContent()).toContain('Detailed rate in effect: 1.2% of requests')
    await page.getByRole('tab', { name: 'Call tree' }).click()
    const rows = page.locator('[data-test="calltree-row"]')
    await rows.first().waitFor()
    const before = await rows.count()
    await page.locator('[data-test="calltree-toggle"][aria-expanded="false"]').first().click()
    await expect.poll(() => rows.count()).toBeGreaterThan(before)
    await shot('09-record-calltree')
    await page.getByRole('tab', { name: 'Top functions' }).click()
    await page.locator('[data-test="top-functions"] .el-table__body tr').first().waitFor()
    await shot('10-record-top')
    await page.getByRole('tab', { name: 'Metadata' }).click()
    await page.locator('[data-test="metadata"]').getByText('GET /report/big').first().waitFor()
    await shot('11-record-metadata')
    await page.getByRole('button', { name: 'Export' }).hover()
    const download = page.waitForEvent('download')
    await page.locator('.el-dropdown-menu__item:visible', { hasText: 'json' }).click()
    expect((await download).suggestedFilename()).toMatch(new RegExp(`${data.bigRecordId}\\.json$`)) // the server's name: <endpoint>-<record id>.json
  })

  it('analyses a record with live status and opens the result', async () => {
    await page.goto(`${server.base}/projects/${data.projectId}/records/e2e-1?tab=analyses`)
    await page.locator('[data-test="analyse"]').click()
    await page.locator('[data-test="analysis-status"]', { hasText: 'done' }).waitFor({ timeout: 20_000 })
    await page.locator('[data-test="finding"]').first().waitFor()
    await shot('12-record-analyses')
    await page.locator('[data-test="analysis-open"]').first().click()
    await page.locator('[data-test="view-analysis"] [data-test="analysis-summary"]').waitFor()
    expect(await page.locator('[data-test="view-analysis"] script').count()).toBe(0)
    await shot('13-analysis')
  })

  it('renders names from user code as text, never as HTML', async () => {
    await page.goto(`${server.base}/projects/${data.projectId}/records/${data.xssRecordId}?tab=top`)
    await page.locator('[data-test="top-functions"]').getByText(XSS, { exact: true }).waitFor()
    await page.getByRole('tab', { name: 'Call tree' }).click()
    await page.locator('[data-test="calltree"]').getByText(XSS, { exact: true }).waitFor()
    await page.getByRole('tab', { name: 'Metadata' }).click()
    await page.locator('[data-test="metadata"]').getByText(XSS, { exact: true }).waitFor()
    await page.getByRole('tab', { name: 'Flame graph' }).click()
    const p = await framePoint({ name: XSS })
    await page.mouse.move(p!.x, p!.y)
    await page.locator('[data-test="flame-tip"]').getByText(XSS, { exact: true }).waitFor()
    await shot('14-xss-as-text')
    expect(await page.locator('img[src="x"]').count()).toBe(0)
    expect(dialogs).toEqual([])
  })

  it('merges an endpoint flame graph and expands an "other" node', async () => {
    await page.goto(`${server.base}/projects/${data.projectId}/flamegraph?endpoint=${encodeURIComponent('GET /users/{user_id}')}`)
    const canvas = page.locator('[data-test="flame-canvas"]')
    await canvas.waitFor()
    await expect.poll(() => framePoint('other')).not.toBeNull()
    const before = Number(await canvas.getAttribute('data-nodes'))
    const other = await framePoint('other')
    await page.mouse.move(other!.x, other!.y)
    await page.locator('[data-test="flame-tip"]').getByText('Click to expand').waitFor()
    await page.mouse.click(other!.x, other!.y)
    await expect.poll(async () => Number(await canvas.getAttribute('data-nodes'))).toBeGreaterThan(before)
    expect(await page.locator('[data-test="merged-count"]').textContent()).toMatch(/\d+/)
    await shot('15-endpoint-flame-expanded')
  })

  it('compares versions and shows the planted regression', async () => {
    await page.goto(`${server.base}/projects/${data.projectId}/compare`)
    await page.waitForURL((u) => u.searchParams.get('base') === '1.4.0' && u.searchParams.get('head') === '1.5.0')
    const row = page.locator('[data-test="cmp-endpoints"] .el-table__body tr', { hasText: REGRESSED_ENDPOINT })
    await row.waitFor()
    expect(await row.locator('[data-test="cmp-kind"]').textContent()).toContain('regression')
    const others = page.locator('[data-test="cmp-endpoints"] .el-table__body tr', { hasText: 'GET /products' })
    expect(await others.locator('[data-test="cmp-kind"]').textContent()).toContain('unchanged')
    const onlyHead = page.locator('[data-test="cmp-endpoints"] .el-table__body tr', { hasText: 'GET /report/big' })
    expect(await onlyHead.locator('[data-test="cmp-kind"]').textContent()).toContain('only in 1.5.0') // no base requests: not "unchanged"
    const fn = page.locator('[data-test="cmp-functions"] .el-table__body tr', { hasText: REGRESSED_FUNCTION }).first()
    await fn.waitFor()
    expect(await fn.textContent()).toContain(REGRESSED_ENDPOINT) // functions are compared per endpoint
    expect(await fn.textContent()).toContain('regression')
    // the summary counts what each table shows: endpoints apart from functions
    const regressedRows = await page.locator('[data-test="cmp-endpoints"] [data-test="cmp-kind"]', { hasText: 'regression' }).count()
    expect(regressedRows).toBeGreaterThan(0)
    expect(await page.locator('[data-test="cmp-count-endpoints"]').textContent()).toMatch(new RegExp(`^Endpoints: ${regressedRows} regressed`))
    expect(await page.locator('[data-test="cmp-count-functions"]').textContent()).toMatch(/^Functions: [1-9]\d* regressed/)
    await expect.poll(() => page.locator('[data-test="flame-canvas"]').getAttribute('data-nodes')).not.toBeNull()
    // a long page: the sidebar's background reaches the bottom of the page
    const heights = await page.evaluate(() => ({
      page: document.documentElement.scrollHeight,
      sidebar: document.querySelector('[data-test="sidebar"]')!.getBoundingClientRect().bottom + window.scrollY,
    }))
    expect(heights.page).toBeGreaterThan(1200)
    expect(heights.sidebar).toBeGreaterThanOrEqual(heights.page - 1)
    await shot('16-compare')
    expect(await page.locator('[data-test="cmp-machine"]').count()).toBe(0) // durations: no machine line
    // the CI gate's calibrated CPU time, with its warning when the machine's speed moved between the versions
    await pickOption('cmp-metric', 'Calibrated CPU time')
    await page.waitForURL((u) => u.searchParams.get('metric') === 'cpu_calibrated')
    const machine = page.locator('[data-test="cmp-machine"]')
    await machine.waitFor()
    expect(await machine.textContent()).toMatch(/calibration workload took 2\.\d{3} → 2\.\d{3} ms of CPU time \(p50, \+(19|20|21)\.\d%\)/)
    expect(await page.locator('[data-test="cmp-machine-moved"]').textContent()).toMatch(/ran (19|20|21)\.\d% slower for the head.*Re-run both commits/)
    // the endpoints whose records carry no CPU time have no figure on either side: said so, not "only in 1.5.0"
    const noCpu = page.locator('[data-test="cmp-endpoints"] .el-table__body tr', { hasText: 'GET /xss' })
    expect(await noCpu.locator('[data-test="cmp-kind"]').textContent()).toContain('no figures')
    await page.evaluate(() => window.scrollTo(0, 0)) // the select scrolled the page: the fixed header would be drawn mid-page
    await shot('16b-compare-calibrated')
    await pickOption('cmp-metric', 'Duration')
    await page.waitForURL((u) => !u.searchParams.has('metric'))
    await expect.poll(() => page.locator('[data-test="cmp-machine"]').count()).toBe(0)
  })

  it('speaks Simplified Chinese', async () => {
    await page.goto(`${server.base}/projects/${data.projectId}`)
    await pickOption('lang', '简体中文')
    await page.locator('[data-test="nav-dashboard"]', { hasText: '概览' }).waitFor()
    await page.locator('[data-test="echart"] canvas').first().waitFor()
    await shot('17-dashboard-zh')
    await pickOption('lang', 'English')
  })
})
