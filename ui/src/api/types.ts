// Shapes of docs/api.md (the contract between the server and the UI).

export interface Envelope<T> { code: number; msg: string; data: T }

export interface Project {
  id: string; name: string; description: string; project_key: string; created_at: string
  settings: Record<string, unknown>; record_count: number; last_seen_at: string | null
}

export interface CallNode {
  function: string; file?: string; line?: number; time_ms: number; self_ms: number; is_app?: boolean
  children?: CallNode[]; pruned?: number
}

export interface AppInfo {
  name?: string; version?: string; environment?: string; host?: string; pid?: number; python?: string
  framework?: string; sdk_version?: string
}

export interface RecordSummary {
  record_id: string; kind: string; name: string; method: string | null; path: string | null
  status_code: number | null; started_at: string; duration_ms: number; cpu_ms: number; sample_rate: number
  app: AppInfo; tags: Record<string, string>; error: { type: string; message: string } | null
  truncated: boolean; sample_count?: number; interval_ms?: number
}

export interface FullRecord extends RecordSummary {
  call_tree: CallNode | null; source?: Record<string, string>; spans?: Span[]; spans_dropped?: number
}

/** One SQL query or outbound HTTP call of a record (docs/spans.md); start_ms is from the record's start. */
export interface Span {
  kind: 'sql' | 'http'; start_ms: number; duration_ms: number; statement?: string; db?: string; host?: string
  method?: string; url?: string; status?: number; error?: string; file?: string; line?: number; function?: string
}
export interface SpanDistribution { p50: number; p95: number; mean: number }
export interface EndpointSpanVersion {
  version: string; records: number; records_with_spans: number
  queries: SpanDistribution; query_ms: SpanDistribution; http_calls: SpanDistribution; http_ms: SpanDistribution
}

export interface Page<T> { items: T[]; total: number; page: number; page_size: number }

export interface EndpointStats {
  endpoint: string; method: string | null; count: number; error_count: number; error_rate: number
  p50: number; p95: number; p99: number; max: number; mean: number; versions: string[]
  /** Only when continuous mode sent aggregates: figures of 100% of the requests, not of the sampled records. */
  continuous?: ContinuousEndpoint
  /** The endpoint's breaches found by the server's last budget check (of the version filtered on, else of every version). */
  budget_breaches?: BudgetBreach[]
}

export type BudgetMetric = 'p95_ms' | 'queries_p95' | 'http_calls_p95' | 'function_share_pct'

/** One budget that does not hold (docs/budgets.md): `measured` is the figure the endpoint table / spans / functions show. */
export interface BudgetBreach {
  version: string; endpoint: string; budget: string; metric: BudgetMetric; function: string
  limit: number; measured: number; requests: number; checked_at: string; first_seen?: string
}

/** Counts of every request (continuous mode), percentiles from the SDK's duration histogram. */
export interface RequestFigures {
  count: number; errors: number; error_rate: number; statuses: Record<string, number>
  p50: number; p95: number; p99: number; max: number; cpu_ms: number
}
export interface ContinuousEndpoint extends RequestFigures { sample_count: number }
export interface ContinuousTotals { sample_count: number; aggregates: number; window_ms: number; requests: RequestFigures }
export interface ContinuousFlame extends ContinuousTotals { root: FlameNode }
export interface ContinuousFunction {
  function: string; file: string; line: number; is_app: boolean; self_samples: number; self_share: number; self_ms: number
}
export interface ContinuousFunctions extends ContinuousTotals {
  items: ContinuousFunction[]; total: number; offset: number; limit: number
  unseen_samples?: number // samples charged to a request without its stack: not in the shares' denominator
}

export interface TrendPoint { t: string; count: number; error_count: number; p50: number; p95: number; p99: number }
export interface Trends { bucket: string; points: TrendPoint[] }

export interface VersionInfo { version: string; environment: string; count: number; first_seen: string; last_seen: string }

export interface FunctionStats {
  function: string; file: string; line: number; is_app: boolean; self_ms_total: number; self_share: number
  request_share: number; p50_self_ms: number; p95_self_ms: number; calls_in: number
}

export interface FlameNode {
  function: string; file: string; line: number; time_ms: number; self_ms: number; is_app: boolean
  children: FlameNode[]; other: boolean; path: string
  /** Profiler samples at or below the node (continuous flame graphs). */
  samples?: number
}
export interface MergedFlame { records: number; root: FlameNode }

export interface SideStats { count: number; p50: number; p95: number; mean: number }
export interface Delta {
  name: string; base: SideStats; head: SideStats; change_pct: number; delta_ms: number; p_value: number
  /** p adjusted for the comparison's many tests (Benjamini-Hochberg); a change is flagged on q, not p. */
  q_value: number
  effect_size: number; significant: boolean; kind: 'regression' | 'improvement' | 'unchanged'
}
/** Functions are compared per endpoint. */
export interface FunctionDelta extends Delta { endpoint: string; file: string; line: number; is_app: boolean }
export interface Comparison {
  base: string; head: string; endpoints: Delta[]; functions: FunctionDelta[]
  alpha: number; correction: 'benjamini-hochberg'; functions_compared: number; regressions: number; improvements: number
  /** The verdicts counted per table. */
  counts?: { endpoints: VerdictCounts; functions: VerdictCounts }
  complete?: boolean; skipped_endpoints?: string[]; functions_folded?: number
  /** What the endpoints' figures are (the `metric` asked for). */
  metric?: 'duration' | 'cpu' | 'cpu_calibrated'
  /** Only with metric cpu_calibrated: the calibration workload's CPU time per version (null: a version's records
   * carry no calibration, and the raw CPU times were compared). */
  machine?: { base: MachineSide; head: MachineSide } | null
}
export interface MachineSide { p50: number; count?: number }

/** One automatic job of the server (GET /health `jobs`): last_error only with a valid token. */
export interface JobState {
  state: 'idle' | 'ok' | 'failing'; runs: number; failed_runs: number; last_ok_at: string | null; failing_projects: number
  project_id?: string | null; failures?: number; last_error_at?: string; next_retry_at?: string; last_error?: string
}
export interface Health { status: string; store: string; version: string; jobs?: Record<string, JobState> }

export type Severity = 'info' | 'low' | 'medium' | 'high'
export interface Finding {
  analyser: string; title: string; function?: string; file?: string; line?: number
  evidence?: Record<string, unknown>; suggestion?: string; expected_saving_ms?: number; confidence?: number
  severity?: Severity
  /** The title as a message code and its parameters (rule-based findings), for the UI's language. */
  code?: string; params?: Record<string, unknown>
  /** The suggestion and the evidence's note as message codes (parameters in params); suggestion/evidence.note: English. */
  suggestion_code?: string; note_code?: string
  /** What the finding predicts and, once a later version had enough requests, the check (set by the server). */
  prediction?: AdvicePrediction; check?: AdviceCheck
}
export interface AdviceTarget { kind: 'function' | 'sql' | 'http'; function?: string; file?: string; text?: string }
export interface AdvicePrediction {
  target: AdviceTarget; endpoint: string; version: string; records: number; baseline_ms: number; share: number; predicted_ms: number
}
export type AdviceVerdict = 'confirmed' | 'partly_confirmed' | 'not_confirmed'
export interface AdviceCheck {
  verdict: AdviceVerdict; predicted_ms: number; measured_ms: number; before_ms: number; after_ms: number; version: string; against: string
  requests: { before: number; after: number }; records: { before: number; after: number }
  endpoint_ms: { before: number | null; after: number | null }; checked_at: string
}
export type AnalysisStatus = 'queued' | 'running' | 'done' | 'failed'
export type AnalysisTrigger = 'manual' | 'slow_record' | 'regression' | 'budget'
/** For trigger "regression": the compared versions and what regressed in the endpoint. */
export interface RegressionContext { base: string; head: string; endpoint: string; delta: Delta | null; functions: FunctionDelta[] }
export interface Analysis {
  id: string; record_id: string; project_id: string; provider: string; model: string | null
  status: AnalysisStatus; created_at: string; finished_at: string | null; summary: string
  findings: Finding[]; error: string | null; raw: string | null
  trigger: AnalysisTrigger; endpoint: string | null; version: string | null; severity: Severity | null
  regression: RegressionContext | null
}
export interface Provider { name: string; default_model: string | null; configured: boolean }

export interface VerdictCounts { regressions: number; improvements: number; unchanged: number }
