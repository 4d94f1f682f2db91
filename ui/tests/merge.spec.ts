import { describe, expect, it } from 'vitest'
import { diffTrees, spliceExpanded } from '@/lib/merge'
import type { FlameNode } from '@/api/types'
import { renderMarkdown } from '@/lib/markdown'

const n = (f: string, ms: number, path: string, children: FlameNode[] = [], other = false): FlameNode =>
  ({ function: f, file: '', line: 0, time_ms: ms, self_ms: 0, is_app: true, children, other, path })

describe('spliceExpanded', () => {
  it('replaces an "other" node by the content the server returns for expand=', () => {
    const root = n('root', 10, '0', [n('a', 8, '0/0'), n('other (2 frames)', 2, '0/~other', [], true)])
    const answer = n('other', 2, '0/~other', [n('b', 1.5, '0/1'), n('c', 0.5, '0/2')])
    const out = spliceExpanded(root, '0/~other', answer)
    expect(out).not.toBe(root)
    expect(out.children.map((c) => c.function)).toEqual(['a', 'b', 'c'])
  })
  it('takes a whole tree when the server answers with one', () => {
    const root = n('root', 10, '0', [n('other', 10, '0/~other', [], true)])
    const full = n('root', 10, '0', [n('x', 10, '0/0')])
    expect(spliceExpanded(root, '0/~other', full).children[0].function).toBe('x')
  })
})

describe('diffTrees', () => {
  it('compares per request and marks new frames', () => {
    const base = { records: 2, root: n('root', 20, '0', [n('a', 20, '0/0')]) }
    const head = { records: 1, root: n('root', 25, '0', [n('a', 15, '0/0'), n('new', 10, '0/1')]) }
    const d = diffTrees(base, head)
    expect(d.time_ms).toBe(25)
    expect(d.base_ms).toBe(10)
    expect(d.change).toBeCloseTo(1.5)
    expect(d.children![0].change).toBeCloseTo(0.5)
    expect(d.children![1].base_ms).toBe(0)
  })
})

describe('renderMarkdown', () => {
  it('renders markdown and never raw HTML from the model', () => {
    const html = renderMarkdown('**slow** `f()`\n\n<script>alert(1)</script><img src=x onerror=alert(1)>')
    expect(html).toContain('<strong>slow</strong>')
    expect(html).not.toContain('<script')
    expect(html).not.toContain('<img')
    expect(html).toContain('&lt;img')
  })
})
