// One function per endpoint of docs/api.md; each returns the envelope's `data`.
import type { AxiosInstance } from 'axios'
import type {
  Analysis, BudgetBreach, Comparison, ContinuousFlame, ContinuousFunctions, EndpointSpanVersion, EndpointStats, FullRecord, FunctionStats, Health, MergedFlame, Page, Project, Provider,
  RecordSummary, Trends, VersionInfo,
} from './types'
import { createHttp } from './http'

export type ExportFormat = 'speedscope' | 'html' | 'json' | 'pyisession'
export type Query = Record<string, string | number | undefined | null>

function clean(q: Query): Record<string, string | number> {
  const out: Record<string, string | number> = {}
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') out[k] = v
  return out
}

export function makeApi(http: AxiosInstance) {
  const get = async <T>(url: string, q: Query = {}, quietNotFound = false): Promise<T> =>
    (await http.get<T>(url, { params: clean(q), quietNotFound })).data
  const post = async <T>(url: string, body: unknown = {}, q: Query = {}): Promise<T> => (await http.post<T>(url, body, { params: clean(q) })).data
  const e = encodeURIComponent
  return {
    health: () => get<Health>('/health'),
    projects: () => get<{ items: Project[]; total: number }>('/projects'),
    /** A missing project answers 404 without a toast: the caller shows a not-found page. */
    project: (id: string) => get<Project>(`/projects/${e(id)}`, {}, true),
    createProject: (name: string, description = '') => post<Project>('/projects', { name, description }),
    updateProject: async (id: string, body: Partial<Pick<Project, 'name' | 'description' | 'settings'>>) =>
      (await http.put<Project>(`/projects/${e(id)}`, body)).data,
    deleteProject: async (id: string) => (await http.delete(`/projects/${e(id)}`)).data,
    rotateKey: (id: string) => post<Project>(`/projects/${e(id)}/rotate-key`),
    records: (id: string, q: Query) => get<Page<RecordSummary>>(`/projects/${e(id)}/records`, q),
    // a record_id is unique per project: `pid` names the project (needed when several hold the id: 409 otherwise)
    record: (rid: string, pid?: string) => get<FullRecord>(`/records/${e(rid)}`, { project_id: pid }, true),
    endpoints: (id: string, q: Query = {}) => get<{ items: EndpointStats[] }>(`/projects/${e(id)}/endpoints`, q),
    endpointSpans: (id: string, q: Query) => get<{ endpoint: string; items: EndpointSpanVersion[] }>(`/projects/${e(id)}/endpoints/spans`, q),
    budgetBreaches: (id: string, q: Query = {}) =>
      get<{ items: BudgetBreach[]; check_interval_s: number }>(`/projects/${e(id)}/budgets/breaches`, q),
    trends: (id: string, q: Query = {}) => get<Trends>(`/projects/${e(id)}/trends`, q),
    versions: (id: string) => get<{ items: VersionInfo[] }>(`/projects/${e(id)}/versions`),
    functions: (id: string, q: Query = {}) => get<{ items: FunctionStats[] }>(`/projects/${e(id)}/functions`, q),
    flamegraph: (id: string, q: Query = {}) => get<MergedFlame>(`/projects/${e(id)}/flamegraph`, q),
    /** Continuous mode: the flame tree of every sampled request, with the figures of 100% of requests. */
    continuous: (id: string, q: Query = {}) => get<ContinuousFlame>(`/projects/${e(id)}/continuous`, q),
    continuousFunctions: (id: string, q: Query = {}) => get<ContinuousFunctions>(`/projects/${e(id)}/continuous/functions`, q),
    compare: (id: string, q: Query) => get<Comparison>(`/projects/${e(id)}/compare`, q),
    analyze: (rid: string, body: { provider?: string; model?: string; language?: 'en' | 'zh' }, pid?: string) =>
      post<{ task_id: string; analysis_id: string; status: string }>(`/analysis/analyze/${e(rid)}`, body, { project_id: pid }),
    /** `quietNotFound`: a 404 is shown by the caller (the analysis page), not as a toast. */
    analysis: (aid: string, quietNotFound = false) => get<Analysis>(`/analysis/${e(aid)}`, {}, quietNotFound),
    analyses: (rid: string, pid?: string) => get<{ items: Analysis[] }>(`/records/${e(rid)}/analyses`, { project_id: pid }),
    /** A project's analyses, newest first; `trigger` may list several: "slow_record,regression". */
    projectAnalyses: (id: string, q: Query = {}) => get<Page<Analysis>>(`/projects/${e(id)}/analyses`, q),
    providers: () => get<{ items: Provider[] }>('/analysis/providers'),
    /** The export file (not enveloped), fetched with the token; the name comes from Content-Disposition. */
    exportFile: async (rid: string, format: ExportFormat, pid?: string): Promise<{ blob: Blob; filename: string }> => {
      const res = await http.get<Blob>(`/records/${e(rid)}/export`, { params: clean({ format, project_id: pid }), responseType: 'blob' })
      const cd = String(res.headers['content-disposition'] ?? '')
      const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd)
      return { blob: res.data, filename: m ? decodeURIComponent(m[1]) : `${rid}.${format === 'html' || format === 'pyisession' ? format : 'json'}` }
    },
  }
}

export type Api = ReturnType<typeof makeApi>

export { createHttp }
