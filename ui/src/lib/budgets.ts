// Budget breaches (docs/budgets.md) in words: the metric's name and its figures in its unit.
import type { BudgetBreach } from '@/api/types'
import { fmtMs } from '@/lib/format'

type T = (key: string, values?: Record<string, unknown>) => string

export function budgetValue(b: BudgetBreach, value: number): string {
  if (b.metric === 'p95_ms') return fmtMs(value)
  if (b.metric === 'function_share_pct') return `${value.toFixed(1)}%`
  return String(Math.round(value * 100) / 100)
}

export function budgetMetric(t: T, b: BudgetBreach): string {
  return t(`budget.metric.${b.metric}`, { f: b.function })
}

/** One line: what, measured, limit, which budget and version. */
export function budgetLine(t: T, b: BudgetBreach): string {
  return t('budget.line', { what: budgetMetric(t, b), measured: budgetValue(b, b.measured), limit: budgetValue(b, b.limit), budget: b.budget, version: b.version })
}
