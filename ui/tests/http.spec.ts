import { describe, expect, it, vi } from 'vitest'
import type { AxiosAdapter, InternalAxiosRequestConfig } from 'axios'
import { ApiError, createHttp } from '@/api/http'
import { makeApi } from '@/api/client'

function withAdapter(status: number, body: unknown, seen: InternalAxiosRequestConfig[] = []) {
  const hooks = { token: vi.fn(() => 'tok'), onUnauthorized: vi.fn(), notify: vi.fn() }
  const http = createHttp(hooks)
  const adapter: AxiosAdapter = async (config) => {
    seen.push(config)
    const response = { data: body, status, statusText: '', headers: {}, config }
    if (status >= 400) {
      const { AxiosError } = await import('axios')
      throw new AxiosError('Request failed', 'ERR_BAD_RESPONSE', config, null, response)
    }
    return response
  }
  http.defaults.adapter = adapter
  return { http, hooks, api: makeApi(http) }
}

describe('envelope interceptor', () => {
  it('unwraps data and sends the token as Bearer', async () => {
    const seen: InternalAxiosRequestConfig[] = []
    const { api, hooks } = withAdapter(200, { code: 0, msg: 'success', data: { items: [], total: 0 } }, seen)
    expect(await api.projects()).toEqual({ items: [], total: 0 })
    expect(seen[0].headers.Authorization).toBe('Bearer tok')
    expect(seen[0].url).toBe('/projects')
    expect(hooks.notify).not.toHaveBeenCalled()
  })
  it('drops empty query parameters', async () => {
    const seen: InternalAxiosRequestConfig[] = []
    const { api } = withAdapter(200, { code: 0, msg: 'success', data: { items: [] } }, seen)
    await api.records('p1', { endpoint: 'GET /x', version: '', page: 2, status: undefined })
    expect(seen[0].params).toEqual({ endpoint: 'GET /x', page: 2 })
  })
  it('rejects a non-zero code with its msg and shows it', async () => {
    const { api, hooks } = withAdapter(200, { code: 20002, msg: "a project named 'x' exists", data: null })
    const err = await api.createProject('x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).code).toBe(20002)
    expect(hooks.notify).toHaveBeenCalledWith("a project named 'x' exists")
  })
  it('shows the msg of an HTTP error envelope', async () => {
    const { api, hooks } = withAdapter(404, { code: 20001, msg: 'project p9 not found', data: null })
    const err = (await api.records('p9', {}).catch((e: unknown) => e)) as ApiError
    expect([err.status, err.code, err.message]).toEqual([404, 20001, 'project p9 not found'])
    expect(hooks.notify).toHaveBeenCalledWith('project p9 not found')
  })
  it('leaves a 404 of a page\'s own object to the page (a not-found page, no toast), other errors still shown', async () => {
    const missing = withAdapter(404, { code: 20001, msg: 'project p9 not found', data: null })
    const err = (await missing.api.project('p9').catch((e: unknown) => e)) as ApiError
    expect([err.status, err.code]).toEqual([404, 20001])
    expect(missing.hooks.notify).not.toHaveBeenCalled()
    const broken = withAdapter(500, { code: 10000, msg: 'internal error', data: null })
    await expect(broken.api.project('p9')).rejects.toBeInstanceOf(ApiError)
    expect(broken.hooks.notify).toHaveBeenCalledWith('internal error')
  })
  it('sends the user to the login page on 401 without a toast', async () => {
    const { api, hooks } = withAdapter(401, { code: 10002, msg: 'authentication required', data: null })
    await expect(api.projects()).rejects.toBeInstanceOf(ApiError)
    expect(hooks.onUnauthorized).toHaveBeenCalledOnce()
    expect(hooks.notify).not.toHaveBeenCalled()
  })
  it('passes non-enveloped files through', async () => {
    const { http } = withAdapter(200, '<html>profile</html>')
    expect((await http.get('/records/r/export')).data).toBe('<html>profile</html>')
  })
})
