// The server's automatic jobs that are failing now (GET /health `jobs`), as notices for one project's pages.
import type { Health } from '@/api/types'

export interface JobNotice { job: string; error: string; nextRetry: string | null; failures: number; project: boolean }

/** Failing jobs that concern `projectId` (its own failure, or a server-wide one), most recent failure first. */
export function failingJobs(health: Health | null | undefined, projectId?: string): JobNotice[] {
  const out: (JobNotice & { at: string })[] = []
  for (const [job, s] of Object.entries(health?.jobs ?? {})) {
    if (s.state !== 'failing') continue
    const project = !!s.project_id
    if (project && projectId && s.project_id !== projectId) continue
    out.push({ job, error: s.last_error ?? '', nextRetry: s.next_retry_at ?? null, failures: s.failures ?? 1, project, at: s.last_error_at ?? '' })
  }
  return out.sort((a, b) => b.at.localeCompare(a.at)).map(({ at: _at, ...notice }) => notice)
}
