// Versions, environments and endpoint names of a project, for filter pickers.
import { computed, ref, watch, type Ref } from 'vue'
import { api } from '@/api'
import type { VersionInfo } from '@/api/types'

export function useProjectMeta(pid: Ref<string>) {
  const versionsRaw = ref<VersionInfo[]>([])
  const endpointNames = ref<string[]>([])
  async function load(): Promise<void> {
    const [v, e] = await Promise.all([api.versions(pid.value), api.endpoints(pid.value)])
    versionsRaw.value = v.items
    endpointNames.value = e.items.map((x) => x.endpoint).sort()
  }
  watch(pid, () => { void load() }, { immediate: true })
  /** Versions, newest first (by last seen). */
  const versions = computed(() => {
    const last = new Map<string, string>()
    for (const v of versionsRaw.value) if (!last.has(v.version) || last.get(v.version)! < v.last_seen) last.set(v.version, v.last_seen)
    return [...last.entries()].sort((a, b) => (a[1] < b[1] ? 1 : -1)).map(([v]) => v)
  })
  const environments = computed(() => [...new Set(versionsRaw.value.map((v) => v.environment).filter(Boolean))].sort())
  return { versions, environments, endpointNames, versionsRaw, reload: load }
}
