// Generated data for the e2e run, sent the way an SDK would: POST /api/v1/performance/batch with the
// project's key (gzip bodies), into the real pystrument-server. Two versions of a shop API, with a
// regression planted in 1.5.0's GET /search, a function named like an HTML injection, and one
// 20,000-node record for the flame graph timings.
import { gzipSync } from 'node:zlib'

export interface Node { function: string; file: string; line: number; time_ms: number; self_ms: number; is_app: boolean; children: Node[] }

export const XSS = '<img src=x onerror=alert(1)>'
export const BIG_NODES = 20_000
export const REGRESSED_ENDPOINT = 'GET /search'
export const REGRESSED_FUNCTION = 'app.search.rank_results'

function rng(seed: number): () => number {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Spec = { fn: string; file: string; self: number; app?: boolean; kids?: Spec[] }

function build(spec: Spec, r: () => number, line = 10): Node {
  const children = (spec.kids ?? []).map((k, i) => build(k, r, line + i * 7 + 3))
  const self = spec.self * (0.7 + 0.6 * r())
  const total = self + children.reduce((a, c) => a + c.time_ms, 0)
  return { function: spec.fn, file: spec.file, line, time_ms: +total.toFixed(3), self_ms: +self.toFixed(3), is_app: spec.app ?? false, children }
}

/** `n` calls drawn from 600 small helpers: merged over many requests, the endpoint's flame graph has
 *  more frames than the server's node budget (limit_nodes=500), so it answers "other" nodes. */
const helpers = (n: number, ms: number, r: () => number): Spec[] =>
  Array.from({ length: n }, () => ({ fn: `app.util.helper_${Math.floor(r() * 600)}`, file: 'app/util.py', self: ms, app: true }))

function endpointTree(endpoint: string, version: string, r: () => number, slow = 1): Spec {
  const regressed = version === '1.5.0'
  const views: Record<string, Spec[]> = {
    'GET /users/{user_id}': [
      { fn: 'app.views.users.get_user', file: 'app/views/users.py', self: 1.5, app: true, kids: [
        { fn: 'sqlalchemy.orm.Query.one', file: 'sqlalchemy/orm/query.py', self: 4 + 6 * r(), kids: [{ fn: 'psycopg.Cursor.execute', file: 'psycopg/cursor.py', self: 9 }] },
        { fn: 'app.serializers.UserSchema.dump', file: 'app/serializers.py', self: 3, app: true },
        ...helpers(24, 0.04, r),
      ] },
    ],
    'POST /orders': [
      { fn: 'app.views.orders.create_order', file: 'app/views/orders.py', self: 2, app: true, kids: [
        { fn: 'app.orders.validate', file: 'app/orders.py', self: 3, app: true },
        { fn: 'app.orders.reserve_stock', file: 'app/orders.py', self: 1, app: true, kids: [{ fn: 'redis.client.Redis.execute_command', file: 'redis/client.py', self: 6 }] },
        { fn: 'sqlalchemy.orm.Session.commit', file: 'sqlalchemy/orm/session.py', self: 14 * slow },
      ] },
    ],
    'GET /products': [
      { fn: 'app.views.products.list_products', file: 'app/views/products.py', self: 1, app: true, kids: [
        { fn: 'app.cache.get_or_set', file: 'app/cache.py', self: 0.5, app: true, kids: [{ fn: 'redis.client.Redis.get', file: 'redis/client.py', self: 2 }] },
        { fn: 'json.dumps', file: 'json/__init__.py', self: 5 },
      ] },
    ],
    'GET /search': [
      { fn: 'app.views.search.search', file: 'app/views/search.py', self: 1, app: true, kids: [
        { fn: 'app.search.parse_query', file: 'app/search.py', self: 2, app: true },
        { fn: 'elasticsearch.Elasticsearch.search', file: 'elasticsearch/client.py', self: 18 },
        { fn: REGRESSED_FUNCTION, file: 'app/search.py', self: regressed ? 42 : 12, app: true, kids: [{ fn: 'app.search.score', file: 'app/search.py', self: regressed ? 20 : 6, app: true }] },
      ] },
    ],
    'GET /xss': [
      { fn: XSS, file: 'app/<b>evil</b>.py', self: 8, app: true, kids: [{ fn: 'app.views.plain', file: 'app/views.py', self: 2, app: true }] },
    ],
  }
  return {
    fn: 'app.wsgi.handle_request', file: 'app/wsgi.py', self: 0.3, app: true, kids: [
      { fn: 'app.middleware.auth', file: 'app/middleware.py', self: 0.8, app: true, kids: [{ fn: 'jwt.decode', file: 'jwt/api_jwt.py', self: 1.2 }] },
      { fn: 'flask.app.Flask.dispatch_request', file: 'flask/app.py', self: 0.2, kids: views[endpoint] ?? [] },
    ],
  }
}

/** A call tree of exactly `count` nodes (for the flame graph performance check). */
export function bigTree(count: number, seed = 7): Node {
  const r = rng(seed)
  let made = 0
  const mods = ['app.report', 'app.report.rows', 'pandas.core.frame', 'numpy.core', 'app.report.format', 'decimal']
  function node(): Node {
    made++
    const m = mods[Math.floor(r() * mods.length)]
    return { function: `${m}.f${made}`, file: `${m.replace(/\./g, '/')}.py`, line: made % 500, time_ms: 0, self_ms: +(0.01 + r() * 0.2).toFixed(3), is_app: m.startsWith('app'), children: [] }
  }
  const root = node()
  const queue: Array<[Node, number]> = [[root, 0]]
  while (made < count && queue.length) {
    const [n, d] = queue.shift()!
    const k = d === 0 ? 12 : 2 + Math.floor(r() * 5)
    for (let i = 0; i < k && made < count; i++) {
      const c = node()
      n.children.push(c)
      queue.push([c, d + 1])
    }
  }
  const fix = (n: Node): number => { n.time_ms = +(n.self_ms + n.children.reduce((a, c) => a + fix(c), 0)).toFixed(3); return n.time_ms }
  fix(root)
  return root
}

export interface Seeded { projectId: string; projectKey: string; bigRecordId: string; xssRecordId: string; total: number }

/** The CI gate's machine tag (pystrument.core.comparison.MACHINE_TAG): the calibration workload's CPU ms beside each
 * record. 1.5.0 ran on a machine 20% slower, so the calibrated comparison warns that its verdicts near the threshold
 * are uncertain. */
export const MACHINE_MS = { '1.4.0': 2.0, '1.5.0': 2.4 } as const
function machineTag(version: string, n: number): Record<string, string> {
  const ms = MACHINE_MS[version as keyof typeof MACHINE_MS] // (a jitter of +-1% by the record's number: the data's random stream is left as it was)
  return ms ? { 'pystrument.machine_ms': (ms * (0.99 + (n % 11) * 0.002)).toFixed(4) } : {}
}

export async function seed(base: string, token: string | null): Promise<Seeded> {
  const auth: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {}
  const created = await fetch(`${base}/api/v1/projects`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...auth },
    body: JSON.stringify({ name: 'shop-api', description: 'The shop backend (generated e2e data)' }),
  }).then((r) => r.json())
  if (created.code !== 0) throw new Error(`creating the project failed: ${JSON.stringify(created)}`)
  const { id: projectId, project_key: projectKey } = created.data
  const r = rng(42)
  const now = Date.now()
  const records: Array<Record<string, unknown>> = []
  let n = 0
  const endpoints = ['GET /users/{user_id}', 'POST /orders', 'GET /products', 'GET /search']
  for (const version of ['1.4.0', '1.5.0']) {
    for (const ep of endpoints) {
      for (let i = 0; i < 45; i++) {
        const tree = build(endpointTree(ep, version, r), r)
        const ageH = version === '1.4.0' ? 30 + r() * 40 : r() * 28
        const env = r() < 0.8 ? 'production' : 'staging'
        const failed = r() < 0.04
        const [method, route] = ep.split(' ')
        records.push({
          schema_version: 1, record_id: `e2e-${++n}`, kind: 'request', name: ep, method, path: route.replace('{user_id}', String(100 + i)),
          status_code: failed ? 500 : 200, started_at: new Date(now - ageH * 3600_000).toISOString(), duration_ms: tree.time_ms,
          cpu_ms: +(tree.time_ms * 0.6).toFixed(3), sample_rate: 1, app: { name: 'shop', version, environment: env, host: 'web-1', framework: 'flask' },
          tags: { region: 'eu-west', ...machineTag(version, n) }, error: failed ? { type: 'TimeoutError', message: 'upstream timed out' } : null, call_tree: tree, truncated: false,
        })
      }
    }
  }
  const xssTree = build(endpointTree('GET /xss', '1.5.0', r), r)
  records.push({
    schema_version: 1, record_id: 'e2e-xss', kind: 'request', name: 'GET /xss', method: 'GET', path: '/xss', status_code: 200,
    started_at: new Date(now - 3600_000).toISOString(), duration_ms: xssTree.time_ms, app: { name: 'shop', version: '1.5.0', environment: 'production' },
    tags: { note: XSS }, call_tree: xssTree,
  })
  const big = bigTree(BIG_NODES)
  records.push({
    schema_version: 1, record_id: 'e2e-big', kind: 'request', name: 'GET /report/big', method: 'GET', path: '/report/big', status_code: 200,
    started_at: new Date(now - 7200_000).toISOString(), duration_ms: big.time_ms, sample_rate: 0.012, app: { name: 'shop', version: '1.5.0', environment: 'production' },
    call_tree: big,
  })
  // gzip bodies, 50 records a batch, the 20,000-node record on its own (stays under body size limits)
  const batches: Array<typeof records> = []
  const small = records.filter((r) => r.record_id !== 'e2e-big')
  for (let i = 0; i < small.length; i += 50) batches.push(small.slice(i, i + 50))
  batches.push(records.filter((r) => r.record_id === 'e2e-big'))
  for (const batch of batches) {
    const res = await fetch(`${base}/api/v1/performance/batch`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'X-Project-Key': projectKey },
      body: gzipSync(JSON.stringify({ records: batch })),
    }).then((x) => x.json())
    if (res.code !== 0 || res.data.rejected.length) throw new Error(`batch ingestion failed: ${JSON.stringify(res).slice(0, 500)}`)
  }
  return { projectId, projectKey, bigRecordId: 'e2e-big', xssRecordId: 'e2e-xss', total: records.length }
}
