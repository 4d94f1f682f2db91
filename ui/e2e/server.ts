// Starts the API server the e2e run drives. By default the stand-in (stub_api_server.py); set
// PYSTRUMENT_E2E_SERVER_CMD to run the real server instead, e.g.
//   PYSTRUMENT_E2E_SERVER_CMD='pystrument-server serve --port {port} --data-dir {data_dir} --token {token}'
// Placeholders: {port} {static} {token} {data_dir} {python}.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const UI_DIR = fileURLToPath(new URL('..', import.meta.url))
export const STATIC_DIR = fileURLToPath(new URL('../../pystrument-server/src/pystrument/server/static/ui', import.meta.url))
const STUB = fileURLToPath(new URL('./stub_api_server.py', import.meta.url))
const DEFAULT_CMD = '{python} ' + STUB + ' --port {port} --static {static} --token {token}'

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
  const cmd = template.replaceAll('{port}', String(port)).replaceAll('{static}', STATIC_DIR).replaceAll('{token}', token)
    .replaceAll('{data_dir}', dataDir).replaceAll('{python}', process.env.PYSTRUMENT_E2E_PYTHON || 'python3')
  const proc = spawn('sh', ['-c', `exec ${cmd}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYSTRUMENT_SERVER_TOKEN: token } })
  let out = ''
  proc.stdout?.on('data', (d) => { out += d })
  proc.stderr?.on('data', (d) => { out += d })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the API server exited (${proc.exitCode}): ${cmd}\n${out}`)
    try {
      const r = await fetch(`${base}/api/v1/health`)
      if (r.ok) break
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`the API server did not answer /api/v1/health within 60 s: ${cmd}\n${out}`)
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
