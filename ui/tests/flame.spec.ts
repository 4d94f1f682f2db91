import { describe, expect, it } from 'vitest'
import { ancestors, drawFlame, fitLabel, hitTest, layoutTree, search, toPx, viewOf, type FlameInput } from '@/lib/flame'

const leaf = (f: string, ms: number, extra: Partial<FlameInput> = {}): FlameInput => ({ function: f, time_ms: ms, self_ms: ms, ...extra })
const tree: FlameInput = {
  function: 'root', time_ms: 100, self_ms: 10, children: [
    { function: 'a', time_ms: 60, self_ms: 20, children: [leaf('a1', 30), leaf('a2', 10)] },
    leaf('b', 30),
  ],
}

function fakeCtx() {
  const rects: Array<[number, number, number, number]> = []
  const texts: string[] = []
  const ctx = {
    fillStyle: '', globalAlpha: 1, textBaseline: '', font: '',
    clearRect: () => undefined,
    fillRect: (x: number, y: number, w: number, h: number) => { rects.push([x, y, w, h]) },
    fillText: (t: string) => { texts.push(t) },
  }
  return { ctx: ctx as unknown as CanvasRenderingContext2D, rects, texts }
}

describe('layoutTree', () => {
  it('lays children left to right inside their parent, in DFS pre-order', () => {
    const l = layoutTree(tree)
    expect(l.n).toBe(5)
    expect(l.nodes.map((n) => n.function)).toEqual(['root', 'a', 'a1', 'a2', 'b'])
    expect([...l.x]).toEqual([0, 0, 0, 30, 60])
    expect([...l.w]).toEqual([100, 60, 30, 10, 30])
    expect([...l.depth]).toEqual([0, 1, 2, 2, 1])
    expect([...l.end]).toEqual([5, 4, 3, 4, 5])
    expect([...l.parent]).toEqual([-1, 0, 1, 1, 0])
    expect(l.maxDepth).toBe(2)
  })

  it('clamps children that stick out of their parent (profile rounding)', () => {
    const l = layoutTree({ function: 'r', time_ms: 10, self_ms: 0, children: [leaf('x', 8), leaf('y', 8)] })
    expect([...l.w]).toEqual([10, 8, 2])
  })

  it('handles deep trees without recursion', () => {
    let n: FlameInput = leaf('deep', 1)
    for (let i = 0; i < 20_000; i++) n = { function: `f${i}`, time_ms: 1, self_ms: 0, children: [n] }
    const l = layoutTree(n)
    expect(l.n).toBe(20_001)
    expect(l.maxDepth).toBe(20_000)
  })
})

describe('view math', () => {
  const l = layoutTree(tree)
  it('zooming to a node maps it to the full width', () => {
    const v = viewOf(l, 1)
    expect(toPx(l.x[1], v, 600)).toBe(0)
    expect(toPx(l.x[1] + l.w[1], v, 600)).toBe(600)
    expect(toPx(l.x[3], v, 600)).toBe(300)
  })
  it('hit-tests by row and time', () => {
    const v = viewOf(l, 0)
    expect(hitTest(l, v, 1000, 20, 10, 5)).toBe(0)
    expect(hitTest(l, v, 1000, 20, 10, 25)).toBe(1)
    expect(hitTest(l, v, 1000, 20, 650, 25)).toBe(4)
    expect(hitTest(l, v, 1000, 20, 350, 45)).toBe(3)
    expect(hitTest(l, v, 1000, 20, 450, 45)).toBe(-1) // a's self time: nothing below
    expect(hitTest(l, v, 1000, 20, 10, 500)).toBe(-1)
  })
  it('finds ancestors and search matches', () => {
    expect(ancestors(l, 3)).toEqual([0, 1, 3])
    expect([...search(l, 'A')]).toEqual([0, 1, 1, 1, 0])
    expect([...search(l, '  ')]).toEqual([0, 0, 0, 0, 0])
  })
  it('fits labels to the room they have', () => {
    expect(fitLabel('handle_request', 200, 7)).toBe('handle_request')
    expect(fitLabel('handle_request', 60, 7)).toBe('handle…')
    expect(fitLabel('handle_request', 10, 7)).toBe('')
  })
})

describe('drawFlame', () => {
  const l = layoutTree(tree)
  const opts = { width: 1000, rowHeight: 20, mode: 'normal' as const, hits: null, charWidth: 7, focus: 0 }
  it('draws every visible frame once with its label as text', () => {
    const { ctx, rects, texts } = fakeCtx()
    expect(drawFlame(ctx, l, { ...opts, view: viewOf(l, 0) })).toBe(5)
    expect(rects[0]).toEqual([0, 0, 999.5, 19])
    expect(texts).toContain('root')
  })
  it('skips frames outside a zoomed view and frames thinner than a pixel', () => {
    const { ctx } = fakeCtx()
    expect(drawFlame(ctx, l, { ...opts, view: viewOf(l, 2), focus: 2 })).toBe(3) // root, a, a1
    const wide = layoutTree({ function: 'r', time_ms: 1e6, self_ms: 0, children: [leaf('big', 1e6 - 1), leaf('tiny', 1)] })
    const { ctx: c2 } = fakeCtx()
    expect(drawFlame(c2, wide, { ...opts, view: viewOf(wide, 0) })).toBe(2)
  })
})
