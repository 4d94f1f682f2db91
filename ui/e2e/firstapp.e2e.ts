// End-to-end, a new user's first app (docs/first-app.md, issue 19): the repository's examples/flask and
// examples/fastapi apps run under `pystrument-run` (the SDK of PYSTRUMENT_E2E_PYTHON's venv, its defaults: the
// overhead governor on) with the two variables `pystrument-server projects create --env` prints, against the
// real server (e2e/server.ts); they get real requests, and Debian's Chromium shows each project's Endpoints
// page listing the routes by their templates, in English and in Chinese. tests/test_first_app.py runs the
// doc's own commands (install included) and checks the same through the API.
import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Browser, type Page } from 'playwright-core'
import { UI_DIR, freePort, startServer, type Running } from './server'
import { apiCall, launchChromium, screenshot } from './browser'

const ROOT = join(UI_DIR, '..')
const BIN = dirname(process.env.PYSTRUMENT_E2E_PYTHON || 'python3')
interface App { name: string; project: string; command: (port: number) => string[]; paths: Record<string, string> }
const APPS: App[] = [
  { name: 'flask', project: 'my-flask-app', command: (port) => [join(BIN, 'flask'), '--app', 'examples/flask/app.py', 'run', '--port', String(port)],
    paths: { 'GET /books': '/books', 'GET /books/{book_id}': '/books/7' } },
  { name: 'fastapi', project: 'my-fastapi-app', command: (port) => [join(BIN, 'uvicorn'), '--app-dir', 'examples/fastapi', 'app:app', '--port', String(port)],
    paths: { 'GET /items': '/items', 'GET /items/{item_id}': '/items/7' } },
]

let server: Running
let browser: Browser
let page: Page
let errors: string[] = []
const running: ChildProcess[] = []
const projects: Record<string, string> = {}

const call = <T>(path: string, init: RequestInit = {}): Promise<T> => apiCall<T>(server, path, init)

async function waitFor(url: string, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the app exited (${proc.exitCode}):\n${log()}`)
    try { if ((await fetch(url)).ok) return } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within 60 s:\n${log()}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** Runs the app under pystrument-run and sends requests until every route has a record on the server. */
async function runApp(app: App): Promise<void> {
  const project = await call<{ id: string; project_key: string }>('/api/v1/projects', { method: 'POST', body: JSON.stringify({ name: app.project }) })
  projects[app.name] = project.id
  const port = await freePort()
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('PYSTRUMENT_')) env[k] = v
  Object.assign(env, { PYSTRUMENT_PROJECT_KEY: project.project_key, PYSTRUMENT_API_ENDPOINT: server.base })
  const proc = spawn(join(BIN, 'pystrument-run'), app.command(port), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  running.push(proc)
  let out = ''
  proc.stdout?.on('data', (d) => { out += d })
  proc.stderr?.on('data', (d) => { out += d })
  const base = `http://127.0.0.1:${port}`
  await waitFor(base + Object.values(app.paths)[0], proc, () => out)
  // under the overhead governor a busy loop is profiled at a few percent: the routes not seen yet get requests
  // back to back, and the server is asked every second
  const deadline = Date.now() + 120_000
  for (let seen: string[] = []; !Object.keys(app.paths).every((name) => seen.includes(name));) {
    if (Date.now() > deadline) throw new Error(`endpoints on the server: ${seen.join(', ')}\n${out}`)
    for (const until = Date.now() + 1000; Date.now() < until;) {
      for (const [name, path] of Object.entries(app.paths)) if (!seen.includes(name)) expect((await fetch(base + path)).status).toBe(200)
    }
    seen = (await call<{ items: { endpoint: string }[] }>(`/api/v1/projects/${project.id}/endpoints`)).items.map((e) => e.endpoint)
  }
  expect(out).not.toContain('Traceback')
}

beforeAll(async () => {
  server = await startServer()
  for (const app of APPS) await runApp(app)
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1280, height: 720 } })
  await page.addInitScript((token) => { localStorage.setItem('pystrument.token', token) }, server.token)
  page.on('pageerror', (e) => errors.push(String(e)))
}, 360_000)

afterEach(() => {
  const seen = errors
  errors = []
  expect(seen).toEqual([])
})

afterAll(async () => {
  for (const proc of running) if (proc.exitCode === null) proc.kill('SIGINT')
  await browser?.close()
  await server?.stop()
})

async function endpointsShown(app: App): Promise<string[]> {
  await page.goto(`${server.base}/projects/${projects[app.name]}/endpoints`)
  const links = page.locator('[data-test="endpoint-link"]')
  await links.first().waitFor({ timeout: 20_000 }) // the first page of a fresh browser on a loaded machine
  await expect.poll(() => links.count(), { timeout: 10_000 }).toBe(Object.keys(app.paths).length)
  return (await links.allTextContents()).map((s) => s.trim()).sort()
}

describe('a new user\'s first app, as docs/first-app.md runs it', () => {
  for (const app of APPS) {
    it(`lists the ${app.name} app's routes by their templates on its Endpoints page`, async () => {
      expect(await endpointsShown(app)).toEqual(Object.keys(app.paths).sort())
      await expect.poll(() => page.locator('.nav-item.active').textContent(), { timeout: 10_000 }).toContain('Endpoints')
      expect(await page.locator('[data-test="project-title"]').textContent()).toBe(app.project)
      await screenshot(page, `firstapp-${app.name}-endpoints`)
    })
  }

  it('shows the same pages in Chinese', async () => {
    await page.evaluate(() => localStorage.setItem('pystrument.lang', 'zh'))
    for (const app of APPS) {
      expect(await endpointsShown(app)).toEqual(Object.keys(app.paths).sort())
      await expect.poll(() => page.locator('.nav-item.active').textContent(), { timeout: 10_000 }).toContain('接口')
      await screenshot(page, `firstapp-${app.name}-endpoints-zh`)
    }
    await page.evaluate(() => localStorage.setItem('pystrument.lang', 'en'))
  })
})
