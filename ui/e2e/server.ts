// Starts the server the e2e run drives: the real pystrument-server (SQLite in a fresh temporary data
// folder, a random token, a free loopback port), serving the built UI from its package data
// (pystrument-server/src/pystrument/server/static/ui, which `npm run build` fills).
// `pystrument-server` must be on PATH (nox puts its session's bin first); PYSTRUMENT_E2E_SERVER_CMD
// replaces the command, e.g. to run it on MongoDB:
//   PYSTRUMENT_E2E_SERVER_CMD='pystrument-server --store mongodb://127.0.0.1:27017/e2e serve --port {port} --token {token}'
// Placeholders: {port} {token} {data_dir} {python}.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const UI_DIR = fileURLToPath(new URL('..', import.meta.url))
export const STATIC_DIR = fileURLToPath(new URL('../../pystrument-server/src/pystrument/server/static/ui', import.meta.url))
const DEFAULT_CMD = 'pystrument-server --data-dir {data_dir} serve --port {port} --token {token}'

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      s.close(() => resolve(port))
    })
  })
}

export interface Running { base: string; token: string; proc: ChildProcess; stop: () => Promise<void>; log: () => string }

export async function startServer(): Promise<Running> {
  const port = await freePort()
  const token = `e2e-${Math.random().toString(36).slice(2)}`
  const dataDir = mkdtempSync(join(tmpdir(), 'pystrument-e2e-'))
  const template = process.env.PYSTRUMENT_E2E_SERVER_CMD || DEFAULT_CMD
  const cmd = template.replaceAll('{port}', String(port)).replaceAll('{token}', token)
    .replaceAll('{data_dir}', dataDir).replaceAll('{python}', process.env.PYSTRUMENT_E2E_PYTHON || 'python3')
  const proc = spawn('sh', ['-c', `exec ${cmd}`], { stdio: ['ignore', 'pipe', 'pipe'], env: {
    ...process.env, PYSTRUMENT_SERVER_TOKEN: token,
    // the flame-graph timing renders a 20,000-node record of 20,000 distinct functions: above the default
    // max_functions_per_record (5,000), which would fold it at ingest
    PYSTRUMENT_SERVER_MAX_FUNCTIONS_PER_RECORD: '25000',
  } })
  let out = ''
  proc.stdout?.on('data', (d) => { out += d })
  proc.stderr?.on('data', (d) => { out += d })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (proc.exitCode !== null) {
      const hint = proc.exitCode === 127 ? '\n(not found: install the distributions, e.g. `nox -s tests`, or put their venv\'s bin on PATH)' : ''
      throw new Error(`the server exited (${proc.exitCode}): ${cmd}${hint}\n${out}`)
    }
    try {
      const r = await fetch(`${base}/api/v1/health`)
      if (r.ok) break
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`the server did not answer /api/v1/health within 60 s: ${cmd}\n${out}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM')
      await new Promise((r) => proc.once('exit', r))
    }
    rmSync(dataDir, { recursive: true, force: true })
  }
  return { base, token, proc, stop, log: () => out }
}
