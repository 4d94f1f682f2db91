// The trend charts of the dashboard and of an endpoint's page: requests/errors bars and p50/p95 lines over
// the same time buckets.
import type { Trends } from '@/api/types'
import type { ChartOption } from '@/lib/echarts'
import { fmtBucket } from '@/lib/dates'
import { fmtMs } from '@/lib/format'

export function bucketLabels(trends: Trends | null): string[] {
  return (trends?.points ?? []).map((p) => fmtBucket(p.t))
}

export function requestsChart(trends: Trends | null, names: { requests: string; errors: string }): ChartOption {
  const points = trends?.points ?? []
  return {
    grid: { left: 44, right: 16, top: 30, bottom: 28 },
    tooltip: { trigger: 'axis' },
    legend: { top: 0, right: 0 },
    xAxis: { type: 'category', data: bucketLabels(trends), axisLabel: { color: '#8a8f99' } },
    yAxis: { type: 'value', splitLine: { lineStyle: { color: '#f0f1f3' } } },
    series: [
      { name: names.requests, type: 'bar', data: points.map((p) => p.count), itemStyle: { color: '#6d97e8', borderRadius: [3, 3, 0, 0] }, barMaxWidth: 22 },
      { name: names.errors, type: 'bar', data: points.map((p) => p.error_count), itemStyle: { color: '#e5675c', borderRadius: [3, 3, 0, 0] }, barMaxWidth: 22, barGap: '10%' },
    ],
  }
}

export function latencyChart(trends: Trends | null): ChartOption {
  const points = trends?.points ?? []
  const showSymbol = points.filter((p) => p.count > 0).length < 3 // a line through one bucket is a dot, and would not show without it
  const ms = (v: number) => (Number.isFinite(v) ? +v.toFixed(2) : null) // an empty bucket is a gap
  return {
    grid: { left: 54, right: 16, top: 30, bottom: 28 },
    tooltip: { trigger: 'axis', valueFormatter: (v) => fmtMs(Number(v)) },
    legend: { top: 0, right: 0 },
    xAxis: { type: 'category', data: bucketLabels(trends), axisLabel: { color: '#8a8f99' } },
    yAxis: { type: 'value', axisLabel: { formatter: '{value} ms' }, splitLine: { lineStyle: { color: '#f0f1f3' } } },
    series: [
      { name: 'p50', type: 'line', smooth: true, showSymbol, data: points.map((p) => ms(p.p50)), lineStyle: { color: '#3b6fe0', width: 2 }, itemStyle: { color: '#3b6fe0' } },
      { name: 'p95', type: 'line', smooth: true, showSymbol, data: points.map((p) => ms(p.p95)), lineStyle: { color: '#f08a4b', width: 2 }, itemStyle: { color: '#f08a4b' }, areaStyle: { color: 'rgba(240,138,75,.08)' } },
    ],
  }
}
