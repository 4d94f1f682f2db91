// A fetch whose 404 means "show the not-found page": resolves to null and sets `missing`; other errors propagate.
import type { Ref } from 'vue'
import { ApiError } from '@/api/http'

export async function notFoundOr<T>(request: Promise<T>, missing: Ref<boolean>): Promise<T | null> {
  try {
    return await request
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      missing.value = true
      return null
    }
    throw err
  }
}
