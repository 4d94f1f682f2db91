import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api } from '@/api'
import type { Project } from '@/api/types'

export const useProjectsStore = defineStore('projects', () => {
  const items = ref<Project[]>([])
  const loading = ref(false)
  const loaded = ref(false)
  const byId = computed(() => new Map(items.value.map((p) => [p.id, p])))

  async function load(): Promise<void> {
    loading.value = true
    try {
      items.value = (await api.projects()).items
      loaded.value = true
    } finally {
      loading.value = false
    }
  }
  async function ensure(id: string): Promise<Project> {
    const known = byId.value.get(id)
    if (known) return known
    const p = await api.project(id)
    items.value = [...items.value.filter((x) => x.id !== p.id), p]
    return p
  }
  function upsert(p: Project): void {
    const i = items.value.findIndex((x) => x.id === p.id)
    if (i >= 0) items.value.splice(i, 1, p)
    else items.value.push(p)
  }
  async function create(name: string, description: string): Promise<Project> {
    const p = await api.createProject(name, description)
    upsert(p)
    return p
  }
  async function rotate(id: string): Promise<Project> {
    const p = await api.rotateKey(id)
    upsert(p)
    return p
  }
  return { items, loading, loaded, byId, load, ensure, upsert, create, rotate }
})
