// The app's API singleton. main.ts wires the hooks (token, login redirect, error toast).
import { createHttp, makeApi } from './client'
import type { HttpHooks } from './http'

const hooks: HttpHooks = {
  token: () => null,
  onUnauthorized: () => undefined,
  notify: () => undefined,
}

export function setHttpHooks(h: Partial<HttpHooks>): void { Object.assign(hooks, h) }

export const api = makeApi(createHttp({
  token: () => hooks.token(),
  onUnauthorized: () => hooks.onUnauthorized(),
  notify: (m) => hooks.notify(m),
}))
