// End-to-end, the unhappy paths and the numbers (issue #19), in English and in Simplified Chinese: the real
// pystrument-server (e2e/server.ts) filled like a demo run (a few minutes of data, two versions, one
// regressed endpoint, await/thread frames, a hot function), driven by Debian's Chromium. Screenshots go
// to e2e/screenshots/ (3x-*), the 400 px layout included.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Browser, type BrowserContext, type Page } from 'playwright-core'
import { startServer, type Running } from './server'
import { SHOTS, launchChromium } from './browser'

const SLOW = 'GET /search'
const STEADY = 'GET /health'
const HOT = 'app.search.rank_results'
const IDLE = 'app.search.noop' // a function with no self time: its percentiles are 0, not 0.005 ms

type Lang = 'en' | 'zh'
/** What each language must show: the UI's own words and the server's titles rendered in that language. */
const WORDS: Record<Lang, { projectMissing: string; recordMissing: string; back: string; hotPath: RegExp; created: string; endpoints: RegExp; synthetic: string; month: RegExp }> = {
  en: { projectMissing: 'Project not found', recordMissing: 'Record not found', back: 'Back to the projects', hotPath: new RegExp(`^(Hot path|CPU-bound work blocks the event loop): ${HOT} `),
    created: 'Project created', endpoints: /^Endpoints: (\d+) regressed · (\d+) improved · (\d+) unchanged/, synthetic: 'time waiting in await', month: /\d{1,2} [A-Z][a-z]{2} \d{4},/ },
  zh: { projectMissing: '项目不存在', recordMissing: '记录不存在', back: '返回项目列表', hotPath: new RegExp(`^(热点路径|CPU 密集型工作阻塞事件循环)：${HOT}`),
    created: '项目已创建', endpoints: /^接口：(\d+) 个回退 · (\d+) 个提升 · (\d+) 个无变化/, synthetic: '在 await 中等待的时间', month: /\d{4}年\d{1,2}月\d{1,2}日/ },
}

interface Frame { function: string; file: string; line: number; time_ms: number; self_ms: number; is_app: boolean; children: Frame[] }
const frame = (fn: string, selfMs: number, children: Frame[] = [], isApp = true): Frame => ({
  function: fn, file: fn.startsWith('[') ? '' : `${fn.split('.').slice(0, -1).join('/')}.py`, line: 3, self_ms: selfMs, is_app: isApp, children,
  time_ms: +(selfMs + children.reduce((a, c) => a + c.time_ms, 0)).toFixed(3),
})

let server: Running
let browser: Browser
let projectId = ''
let analysisId = ''
let seq = 0

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${server.base}/api/v1${path}`, { ...init, headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${server.token}`, ...init.headers } })
  const body = await res.json() as { code: number; msg: string; data: T }
  if (body.code !== 0) throw new Error(`${path} answered ${body.code}: ${body.msg}`)
  return body.data
}

/** A request of `endpoint` in `version`, `minutesAgo` minutes ago (the data span a few minutes, like the demo's). */
function request(endpoint: string, version: string, slow: number, minutesAgo: number): Record<string, unknown> {
  const tree = frame('app.views.search', 1, [
    frame(HOT, 40 * slow + (seq % 7)), frame(IDLE, 0, [frame('json.dumps', 2, [], false)]),
    frame('[await]', 5, [frame('asyncio.sleep', 0, [], false)]), frame('[thread]', 0, [frame('app.search.load_index', 3)]),
  ])
  return {
    schema_version: 1, record_id: `unhappy-${++seq}`, kind: 'request', name: endpoint, method: 'GET', path: '/x', status_code: 200,
    started_at: new Date(Date.now() - minutesAgo * 60_000).toISOString(), duration_ms: tree.time_ms, cpu_ms: tree.time_ms * 0.9,
    sample_rate: 1, app: { name: 'shop', version, environment: 'production', framework: 'fastapi' }, call_tree: tree,
  }
}

async function seed(): Promise<void> {
  const project = await api<{ id: string; project_key: string }>('/projects', { method: 'POST', body: JSON.stringify({ name: 'unhappy-shop' }) })
  projectId = project.id
  const records: Array<Record<string, unknown>> = []
  for (let i = 0; i < 60; i++) {
    records.push(request(SLOW, '1.0', 1, 6 + (i % 3)), request(STEADY, '1.0', 0.1, 6))
    records.push(request(SLOW, '1.1', 3.3, 1 + (i % 3)), request(STEADY, '1.1', 0.1, 1))
  }
  const batch = await api<{ accepted: number }>('/performance/batch', { method: 'POST', headers: { 'X-Project-Key': project.project_key }, body: JSON.stringify({ records }) })
  if (batch.accepted !== records.length) throw new Error(`ingestion accepted ${batch.accepted} of ${records.length} records`)
  const queued = await api<{ analysis_id: string }>(`/analysis/analyze/${records[2].record_id as string}?project_id=${projectId}`, { method: 'POST', body: '{}' })
  analysisId = queued.analysis_id
  const deadline = Date.now() + 30_000
  for (let status = ''; status !== 'done'; await new Promise((r) => setTimeout(r, 250))) {
    status = (await api<{ status: string }>(`/analysis/${analysisId}`)).status
    if (status === 'failed' || Date.now() > deadline) throw new Error(`the seeded analysis did not finish: ${status}`)
  }
}

beforeAll(async () => {
  server = await startServer()
  await seed()
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
})

it('the server answers the numbers the pages show: no-self-time functions at 0 ms, changes of the mean, counts per table', async () => {
  const fns = await api<{ items: Array<{ function: string; p50_self_ms: number; p95_self_ms: number }> }>(`/projects/${projectId}/functions?endpoint=${encodeURIComponent(SLOW)}&limit=50`)
  const idle = fns.items.find((f) => f.function === IDLE)
  expect(idle, `${IDLE} among the functions`).toBeDefined()
  expect([idle!.p50_self_ms, idle!.p95_self_ms]).toEqual([0, 0])
  const cmp = await api<{ endpoints: Array<{ name: string; kind: string; change_pct: number; base: { mean: number }; head: { mean: number } }>;
    counts: { endpoints: { regressions: number; improvements: number; unchanged: number } } }>(`/projects/${projectId}/compare?base=1.0&head=1.1`)
  const slow = cmp.endpoints.find((d) => d.name === SLOW)!
  expect(slow.kind).toBe('regression')
  expect(slow.change_pct).toBeCloseTo((slow.head.mean / slow.base.mean - 1) * 100, 0) // the change shown beside the means
  expect(cmp.counts.endpoints.regressions).toBe(cmp.endpoints.filter((d) => d.kind === 'regression').length)
})

describe.sequential.each(['en', 'zh'] as const)('unhappy paths in %s', (lang) => {
  const words = WORDS[lang]
  let context: BrowserContext
  let page: Page
  let toasts = 0
  const errors: string[] = []

  async function shot(name: string): Promise<void> {
    // charts have finished their entrance animation (EChart's data-finished), transitions have settled
    await page.waitForFunction(() => [...document.querySelectorAll('[data-test="echart"]')].every((c) => c.getAttribute('data-finished') === 'true'), null, { timeout: 5000 })
    await page.waitForTimeout(300)
    await page.screenshot({ path: join(SHOTS, `3x-${name}-${lang}.png`), fullPage: true })
  }
  async function open(path: string): Promise<void> {
    toasts = 0
    await page.goto(server.base + path)
  }
  /** The page does not scroll sideways (the 400 px layout). */
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)

  beforeAll(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } })
    await context.addInitScript(([token, l]) => {
      localStorage.setItem('pystrument.token', token)
      localStorage.setItem('pystrument.lang', l)
    }, [server.token, lang])
    page = await context.newPage()
    await page.exposeFunction('__toast', () => { toasts += 1 })
    // every Element Plus message (toast) that appears is counted
    await context.addInitScript(() => {
      new MutationObserver((muts) => {
        for (const m of muts) for (const n of m.addedNodes) if (n instanceof HTMLElement && n.classList.contains('el-message')) void (window as unknown as { __toast: () => void }).__toast()
      }).observe(document, { childList: true, subtree: true })
    })
    page.on('pageerror', (e) => errors.push(e.message))
  })
  afterAll(async () => {
    await context?.close()
    expect(errors, 'page errors').toEqual([])
  })

  it('an unknown project shows one not-found page with a way back, no dashboard and no toast', async () => {
    await open('/projects/no-such-project')
    const nf = page.locator('[data-test="not-found"]')
    await nf.waitFor()
    expect(await nf.textContent()).toContain(words.projectMissing)
    expect(await nf.textContent()).toContain('no-such-project')
    await page.waitForLoadState('networkidle')
    expect(toasts).toBe(0)
    expect(await page.locator('[data-test="view-dashboard"], [data-test="sidebar"]').count()).toBe(0)
    await shot('project-not-found')
    await page.locator('[data-test="not-found-back"]').click()
    await page.waitForURL((u) => u.pathname === '/')
    await page.locator('[data-test="projects-table"]').getByText('unhappy-shop').waitFor()
  })

  it('an unknown page says so, with a link to the projects', async () => {
    await open('/no/such/page')
    const nf = page.locator('[data-test="not-found"]')
    await nf.waitFor()
    expect(await nf.textContent()).toContain('/no/such/page')
    expect(await page.locator('[data-test="not-found-back"]').textContent()).toContain(words.back)
  })

  it('an unknown record shows a not-found page, not an endless skeleton', async () => {
    await open(`/projects/${projectId}/records/no-such-record`)
    const nf = page.locator('[data-test="not-found"]')
    await nf.waitFor()
    expect(await nf.textContent()).toContain(words.recordMissing)
    expect(await page.locator('.el-skeleton').count()).toBe(0)
    await page.waitForLoadState('networkidle')
    expect(toasts).toBe(0)
    await shot('record-not-found')
  })

  it('the dashboard fits its range to minutes-old data and labels the regression figures it computes from', async () => {
    await open(`/projects/${projectId}`)
    await page.locator('[data-test="range-24h"].is-active').waitFor() // not 7 days of one bar
    expect(await overflow(), 'the dashboard scrolls sideways').toBeLessThanOrEqual(0)
    const row = page.locator('[data-test="regressions"] .el-table__body tr', { hasText: SLOW })
    await row.waitFor()
    const header = await page.locator('[data-test="regressions"] .el-table__header').textContent()
    expect(header).toContain(lang === 'en' ? 'mean base → head' : '均值 基线 → 对比')
    expect(header).toContain(lang === 'en' ? 'Δ mean' : '均值变化')
    // the change is the one of the means shown beside it
    const cells = await row.locator('td').allTextContents()
    const means = cells[2].match(/[\d.]+/g)!.map(Number)
    const change = Number(cells[3].replace(/[^\d.-]/g, ''))
    expect(change).toBeCloseTo((means[1] / means[0] - 1) * 100, -1)
    await shot('dashboard')
  })

  it('the comparison says what each count counts, and they agree with its tables', async () => {
    await open(`/projects/${projectId}/compare?base=1.0&head=1.1`)
    const line = page.locator('[data-test="cmp-count-endpoints"]')
    await line.waitFor()
    const m = (await line.textContent())!.match(words.endpoints)
    expect(m, await line.textContent() ?? '').not.toBeNull()
    const kinds = await page.locator('[data-test="cmp-endpoints"] [data-test="cmp-kind"]').allTextContents()
    expect(Number(m![1])).toBe(kinds.filter((k) => k.includes(lang === 'en' ? 'regression' : '回退')).length)
    expect(Number(m![1]) + Number(m![2]) + Number(m![3])).toBe(kinds.length)
    await shot('compare')
  })

  it('findings are rendered markdown with their titles and severities in the chosen language, dates localised', async () => {
    await open(`/projects/${projectId}/analyses/${analysisId}`)
    const finding = page.locator('[data-test="finding"]', { hasText: HOT }).first()
    await finding.waitFor()
    expect((await finding.locator('[data-test="finding-title"]').textContent())!.trim()).toMatch(words.hotPath)
    const sev = (await finding.locator('[data-test="finding-severity"]').textContent())!.trim()
    expect(lang === 'en' ? ['info', 'low', 'medium', 'high'] : ['提示', '低', '中', '高']).toContain(sev)
    const suggestions = page.locator('[data-test="finding-suggestion"]')
    for (const text of await suggestions.allTextContents()) expect(text).not.toContain('`') // code spans rendered, not raw backticks
    expect(await page.locator('[data-test="finding-suggestion"] code').count()).toBeGreaterThan(0)
    // suggestions and notes in the chosen language, from their codes; in English, the API's own text
    const served = (await api<{ findings: { suggestion?: string }[] }>(`/analysis/${analysisId}`)).findings.filter((f) => f.suggestion)
    const shown = (await suggestions.allTextContents()).map((x) => x.trim())
    expect(shown.length).toBe(served.length)
    for (const [i, text] of shown.entries()) {
      if (lang === 'en') expect(text).toBe(served[i].suggestion!.replaceAll('`', ''))
      else expect(text).toMatch(/[\u4e00-\u9fff]/)
    }
    for (const note of await page.locator('[data-test="finding-note"]').allTextContents()) expect(/[\u4e00-\u9fff]/.test(note)).toBe(lang === 'zh')
    expect(await page.locator('[data-test="model-text-hint"]').count()).toBe(0) // rule-based text: no "as the model wrote it"
    // severity is the finding's cost in this request, said beside it (a hot path may be "high" on an unchanged endpoint)
    expect(await page.locator('[data-test="severity-hint"]').textContent()).toContain(lang === 'en' ? 'not whether a version comparison' : '并不表示版本对比')
    const summary = (await page.locator('[data-test="analysis-summary"]').textContent())!
    expect(summary).toMatch(lang === 'en' ? /findings? from the rule-based analysers/ : /规则分析器/)
    expect(await page.locator('.el-descriptions').textContent()).toMatch(words.month)
    await shot('analysis')
  })

  it('the merged flame graph explains its synthetic frames', async () => {
    await open(`/projects/${projectId}/flamegraph?endpoint=${encodeURIComponent(SLOW)}`)
    const legend = page.locator('[data-test="flame-synthetic"]')
    await legend.waitFor()
    expect(await legend.textContent()).toContain('[await]')
    expect(await legend.textContent()).toContain(words.synthetic)
    expect(await legend.textContent()).toContain('[thread]')
    await shot('flame-legend')
  })

  it('a new project\'s drawer says it was created without a toast over its title, and shows the key whole', async () => {
    await open('/')
    await page.locator('[data-test="project-new"]').click()
    await page.locator('input[data-test="project-name"], [data-test="project-name"] input').first().fill(`drawer-${lang}`)
    await page.locator('[data-test="project-create"]').click()
    await page.locator('[data-test="project-created"]').waitFor()
    expect(await page.locator('[data-test="project-created"]').textContent()).toContain(words.created)
    expect(toasts).toBe(0)
    await page.locator('[data-test="key-show"]').click()
    const key = page.locator('[data-test="project-key"]')
    const [box, drawer] = [await key.boundingBox(), await page.locator('.el-drawer').boundingBox()]
    expect(box!.x + box!.width).toBeLessThanOrEqual(drawer!.x + drawer!.width)
    expect(await key.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true) // not clipped
    await shot('drawer')
    await page.keyboard.press('Escape')
  })

  it('every page fits 400 px without sideways scrolling', async () => {
    await page.setViewportSize({ width: 400, height: 860 })
    const pages: Array<[string, string]> = [
      ['projects', '/'], ['dashboard', `/projects/${projectId}`], ['compare', `/projects/${projectId}/compare?base=1.0&head=1.1`],
      ['records', `/projects/${projectId}/records`], ['record', `/projects/${projectId}/records/unhappy-3`],
      ['analysis', `/projects/${projectId}/analyses/${analysisId}`], ['flame', `/projects/${projectId}/flamegraph?endpoint=${encodeURIComponent(SLOW)}`],
      ['project-404', '/projects/no-such-project'],
    ]
    for (const [name, path] of pages) {
      await open(path)
      await page.waitForLoadState('networkidle')
      await page.waitForTimeout(200)
      expect(await overflow(), `${name} at 400 px`).toBeLessThanOrEqual(0)
      await shot(`400-${name}`)
    }
    await open('/')
    await page.locator('[data-test="project-new"]').click()
    await page.locator('input[data-test="project-name"], [data-test="project-name"] input').first().fill(`narrow-${lang}`)
    await page.locator('[data-test="project-create"]').click()
    await page.locator('[data-test="key-show"]').click()
    const key = page.locator('[data-test="project-key"]')
    expect(await key.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true)
    await shot('400-drawer')
    await page.keyboard.press('Escape')
    await page.setViewportSize({ width: 1280, height: 860 })
  })
})
