// Axios with the envelope interceptor: unwraps {code,msg,data}, shows msg on errors,
// sends the server token as Bearer, and sends the user to the login page on 401.
import axios, { AxiosError, type AxiosInstance, type AxiosResponse } from 'axios'
import type { Envelope } from './types'

declare module 'axios' {
  interface AxiosRequestConfig {
    /** A 404 is the caller's to show (a not-found page), not a toast. */
    quietNotFound?: boolean
  }
}

export class ApiError extends Error {
  constructor(message: string, public code: number, public status: number) { super(message) }
}

export interface HttpHooks {
  token: () => string | null
  onUnauthorized: () => void
  notify: (message: string) => void
}

function isEnvelope(value: unknown): value is Envelope<unknown> {
  return typeof value === 'object' && value !== null && 'code' in value && 'msg' in value
}

export function createHttp(hooks: HttpHooks, baseURL = '/api/v1'): AxiosInstance {
  const http = axios.create({ baseURL, timeout: 30_000 })
  http.interceptors.request.use((config) => {
    const token = hooks.token()
    if (token) config.headers.set('Authorization', `Bearer ${token}`)
    return config
  })
  http.interceptors.response.use(
    (response: AxiosResponse) => {
      const body: unknown = response.data
      if (!isEnvelope(body)) return response // files (exports) are not enveloped
      if (body.code !== 0) {
        hooks.notify(body.msg)
        return Promise.reject(new ApiError(body.msg, body.code, response.status))
      }
      response.data = body.data
      return response
    },
    (error: AxiosError) => {
      const status = error.response?.status ?? 0
      const body: unknown = error.response?.data
      const msg = isEnvelope(body) ? body.msg : error.message || 'network error'
      const code = isEnvelope(body) ? body.code : 10000
      if (status === 401) hooks.onUnauthorized()
      else if (!(status === 404 && error.config?.quietNotFound)) hooks.notify(msg)
      return Promise.reject(new ApiError(msg, code, status))
    },
  )
  return http
}
