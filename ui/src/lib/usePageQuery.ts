// A project page's route: its project id and the URL query its filters live in (shareable; a filter change
// replaces the history entry, it adds none).
import { computed, type WritableComputedRef } from 'vue'
import { useRoute, useRouter } from 'vue-router'

export function usePageQuery() {
  const route = useRoute()
  const router = useRouter()
  const pid = computed(() => String(route.params.pid))
  /** Sets one query key, keeping the others; '' removes the key. */
  function setQuery(key: string, value: string): void {
    void router.replace({ query: { ...route.query, [key]: value || undefined } })
  }
  /** The query's `key` as a string ('' when absent); setting it is setQuery(key, value). */
  const query = (key: string): WritableComputedRef<string> =>
    computed({ get: () => String(route.query[key] ?? ''), set: (v: string) => setQuery(key, v) })
  return { route, router, pid, query, setQuery }
}
