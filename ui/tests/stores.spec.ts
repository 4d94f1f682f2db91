import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import type { Analysis, Project } from '@/api/types'

const project = (id: string, key = 'pk_1'): Project => ({ id, name: id, description: '', project_key: key, created_at: '', settings: {}, record_count: 0, last_seen_at: null })
const analysis = (status: Analysis['status']): Analysis => ({ id: 'a1', record_id: 'r1', project_id: 'p', provider: 'rules', model: null, status, created_at: '', finished_at: null, summary: '', findings: [], error: null, raw: null, trigger: 'manual', endpoint: null, version: null, severity: null, regression: null })

const api = vi.hoisted(() => ({
  projects: vi.fn(), project: vi.fn(), createProject: vi.fn(), rotateKey: vi.fn(),
  analyses: vi.fn(), providers: vi.fn(), analyze: vi.fn(), analysis: vi.fn(),
}))
vi.mock('@/api', () => ({ api }))

import { useAuthStore, TOKEN_KEY } from '@/stores/auth'
import { useProjectsStore } from '@/stores/projects'
import { useAnalysisStore } from '@/stores/analysis'

beforeEach(() => { setActivePinia(createPinia()); localStorage.clear(); vi.clearAllMocks() })
afterEach(() => { vi.useRealTimers() })

describe('auth store', () => {
  it('keeps the token in localStorage', () => {
    localStorage.setItem(TOKEN_KEY, 'saved')
    setActivePinia(createPinia())
    const auth = useAuthStore()
    expect(auth.token).toBe('saved')
    auth.setToken('new')
    expect(localStorage.getItem(TOKEN_KEY)).toBe('new')
    auth.logout()
    expect(auth.token).toBeNull()
    expect(localStorage.getItem(TOKEN_KEY)).toBeNull()
  })
})

describe('projects store', () => {
  it('loads, creates and rotates keys in place', async () => {
    api.projects.mockResolvedValue({ items: [project('a')], total: 1 })
    api.createProject.mockResolvedValue(project('b'))
    api.rotateKey.mockResolvedValue(project('a', 'pk_2'))
    const s = useProjectsStore()
    await s.load()
    await s.create('b', '')
    expect(api.createProject).toHaveBeenCalledWith('b', '')
    await s.rotate('a')
    expect(s.items.map((p) => [p.id, p.project_key])).toEqual([['a', 'pk_2'], ['b', 'pk_1']])
    expect(s.byId.get('a')?.project_key).toBe('pk_2')
  })
  it('fetches a project it does not know yet', async () => {
    api.project.mockResolvedValue(project('z'))
    const s = useProjectsStore()
    expect((await s.ensure('z')).id).toBe('z')
    await s.ensure('z')
    expect(api.project).toHaveBeenCalledTimes(1)
  })
})

describe('analysis store', () => {
  it('polls a started analysis until it is done', async () => {
    vi.useFakeTimers()
    api.analyses.mockResolvedValue({ items: [] })
    api.providers.mockResolvedValue({ items: [{ name: 'rules', default_model: null, configured: true }] })
    api.analyze.mockResolvedValue({ task_id: 't', analysis_id: 'a1', status: 'queued' })
    api.analysis.mockResolvedValueOnce(analysis('queued')).mockResolvedValueOnce(analysis('running')).mockResolvedValue(analysis('done'))
    const s = useAnalysisStore()
    await s.load('r1', 'p1')
    await s.start('r1', 'rules', 'en', 'p1')
    expect(api.analyses).toHaveBeenCalledWith('r1', 'p1') // a record_id is unique per project: the project goes along
    expect(api.analyze).toHaveBeenCalledWith('r1', { provider: 'rules', language: 'en' }, 'p1')
    expect(s.items[0].status).toBe('queued')
    await vi.advanceTimersByTimeAsync(1000)
    expect(s.items[0].status).toBe('running')
    await vi.advanceTimersByTimeAsync(1000)
    expect(s.items[0].status).toBe('done')
    await vi.advanceTimersByTimeAsync(5000)
    expect(api.analysis).toHaveBeenCalledTimes(3) // stops polling once done
  })
})
