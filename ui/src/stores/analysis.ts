import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api } from '@/api'
import type { Analysis, Provider } from '@/api/types'

const FINAL = new Set(['done', 'failed'])

/** Analyses of one record, with live status polling until each is done or failed. */
export const useAnalysisStore = defineStore('analysis', () => {
  const items = ref<Analysis[]>([])
  const providers = ref<Provider[]>([])
  const recordId = ref<string | null>(null)
  const pollMs = ref(1000)
  let timer: ReturnType<typeof setTimeout> | null = null

  function stop(): void {
    if (timer) clearTimeout(timer)
    timer = null
  }
  function pending(): Analysis[] { return items.value.filter((a) => !FINAL.has(a.status)) }

  async function poll(): Promise<void> {
    timer = null
    for (const a of pending()) {
      const fresh = await api.analysis(a.id)
      const i = items.value.findIndex((x) => x.id === fresh.id)
      if (i >= 0) items.value.splice(i, 1, fresh)
    }
    schedule()
  }
  function schedule(): void {
    stop()
    if (pending().length) timer = setTimeout(() => { void poll() }, pollMs.value)
  }
  async function load(rid: string, pid?: string): Promise<void> {
    stop()
    recordId.value = rid
    const [list, provs] = await Promise.all([api.analyses(rid, pid), api.providers()])
    items.value = list.items
    providers.value = provs.items
    schedule()
  }
  async function start(rid: string, provider: string, language: 'en' | 'zh', pid?: string): Promise<string> {
    const res = await api.analyze(rid, { provider, language }, pid)
    const a = await api.analysis(res.analysis_id)
    items.value = [a, ...items.value.filter((x) => x.id !== a.id)]
    schedule()
    return a.id
  }
  return { items, providers, recordId, pollMs, load, start, stop, pending }
})
