// What every e2e file shares: Debian's Chromium (never a downloaded browser), where screenshots go, a page
// screenshot once the page has settled, and a call to the real server's API with its token.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { UI_DIR, type Running } from './server'

export const CHROMIUM = process.env.PYSTRUMENT_E2E_CHROMIUM || '/usr/bin/chromium'
export const SHOTS = join(UI_DIR, 'e2e', 'screenshots')
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

/** Chromium, headless, without a sandbox; the screenshot folder made. */
export function launchChromium(): Promise<Browser> {
  mkdirSync(SHOTS, { recursive: true })
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true })
}

/** A full-page screenshot in SHOTS once no loading mask is left. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.waitForFunction(() => !document.querySelector('.el-loading-mask'), null, { timeout: 5000 }).catch(() => undefined)
  await page.waitForTimeout(150)
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
}

/** The API's `data`, or an error naming the path, the code and the message. */
export async function apiCall<T>(server: Running, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(server.base + path, { ...init, headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${server.token}`, ...(init.headers ?? {}) } })
  const body = await res.json() as { code: number; msg: string; data: T }
  if (body.code !== 0) throw new Error(`${path}: ${body.code} ${body.msg}`)
  return body.data
}
