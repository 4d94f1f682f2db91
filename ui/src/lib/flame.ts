// Flame graph layout and drawing math, kept apart from the component so it can be unit-tested.
// The tree is flattened once into typed arrays in DFS pre-order; a subtree is the index range
// [i, end[i]), so drawing and hit-testing skip whole subtrees that are off-screen or too thin.

export interface FlameInput {
  function: string
  file?: string
  line?: number
  time_ms: number
  self_ms: number
  is_app?: boolean
  children?: FlameInput[]
  other?: boolean
  path?: string
  pruned?: number
  /** Diff graphs only: time in the base version and the relative change (0.5 = 50% slower). */
  base_ms?: number
  change?: number
}

export interface FlameLayout {
  n: number
  x: Float64Array
  w: Float64Array
  depth: Uint16Array
  end: Int32Array
  parent: Int32Array
  color: Uint8Array
  nodes: FlameInput[]
  maxDepth: number
  total: number
}

export interface View { start: number; width: number }

export const PALETTE_SIZE = 8

export function hashName(s: string): number {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return (h >>> 0) % PALETTE_SIZE
}

/** Flatten a call tree. Children are laid left to right from their parent's start; a child never
 *  sticks out of its parent (rounding in the profile is clamped). */
export function layoutTree(root: FlameInput): FlameLayout {
  const nodes: FlameInput[] = []
  const xs: number[] = []
  const ws: number[] = []
  const ds: number[] = []
  const ps: number[] = []
  const stack: Array<[FlameInput, number, number, number, number]> = [[root, -1, 0, Math.max(0, root.time_ms), 0]]
  let maxDepth = 0
  while (stack.length) {
    const [node, parent, x, w, d] = stack.pop()!
    const i = nodes.length
    nodes.push(node); xs.push(x); ws.push(w); ds.push(d); ps.push(parent)
    if (d > maxDepth) maxDepth = d
    const kids = node.children
    if (!kids || kids.length === 0) continue
    const limit = x + w
    const entries: Array<[FlameInput, number, number, number, number]> = []
    let cx = x
    for (const c of kids) {
      const cw = Math.max(0, Math.min(c.time_ms, limit - cx))
      entries.push([c, i, cx, cw, d + 1])
      cx += cw
    }
    for (let k = entries.length - 1; k >= 0; k--) stack.push(entries[k])
  }
  const n = nodes.length
  const size = new Int32Array(n).fill(1)
  for (let i = n - 1; i > 0; i--) size[ps[i]] += size[i]
  const end = new Int32Array(n)
  for (let i = 0; i < n; i++) end[i] = i + size[i]
  const color = new Uint8Array(n)
  for (let i = 0; i < n; i++) color[i] = hashName(nodes[i].function)
  return {
    n, nodes, maxDepth, total: ws[0] ?? 0, end, color,
    x: Float64Array.from(xs), w: Float64Array.from(ws), depth: Uint16Array.from(ds), parent: Int32Array.from(ps),
  }
}

export function viewOf(l: FlameLayout, i: number): View {
  return { start: l.x[i], width: Math.max(l.w[i], 1e-9) }
}

export function toPx(ms: number, view: View, canvasWidth: number): number {
  return ((ms - view.start) / view.width) * canvasWidth
}

/** The node under a point, or -1. */
export function hitTest(l: FlameLayout, view: View, canvasWidth: number, rowHeight: number, px: number, py: number): number {
  const d = Math.floor(py / rowHeight)
  if (d < 0 || d > l.maxDepth || px < 0 || px > canvasWidth) return -1
  const ms = view.start + (px / canvasWidth) * view.width
  let i = 0
  while (i < l.n) {
    const inside = ms >= l.x[i] && ms < l.x[i] + l.w[i]
    if (!inside) { i = l.end[i]; continue }
    if (l.depth[i] === d) return i
    i++ // descend
  }
  return -1
}

/** Ancestors of i, root first (for breadcrumbs). */
export function ancestors(l: FlameLayout, i: number): number[] {
  const out: number[] = []
  for (let p = i; p >= 0; p = l.parent[p]) out.push(p)
  return out.reverse()
}

/** Indices whose function name contains the query (case-insensitive). */
export function search(l: FlameLayout, query: string): Uint8Array {
  const hits = new Uint8Array(l.n)
  const q = query.trim().toLowerCase()
  if (!q) return hits
  for (let i = 0; i < l.n; i++) if (l.nodes[i].function.toLowerCase().includes(q)) hits[i] = 1
  return hits
}

/** Truncate a label to what fits in `px` pixels with a fixed character width. */
export function fitLabel(text: string, px: number, charWidth: number): string {
  const room = Math.floor((px - 6) / charWidth)
  if (room <= 1) return ''
  if (text.length <= room) return text
  return text.slice(0, room - 1) + '…'
}

const APP = ['#f08a4b', '#ee7d3f', '#f29a5c', '#e9733a', '#f4a86c', '#eb8550', '#f19054', '#ec7b46']
const LIB = ['#7fa7c9', '#8bb0cf', '#749ec2', '#93b6d3', '#6d97bc', '#86acd0', '#7aa3c7', '#9ab9d6']
const OTHER = '#c9ccd1'
const DIM = '#e4e6ea'
const MATCH = '#c04bd8'

/** Colour of a diff node: red when slower, green when faster, grey when about the same, dark red when new. */
export function diffColor(node: FlameInput): string {
  const base = node.base_ms ?? 0
  if (base <= 0 && node.time_ms > 0) return '#b3261e'
  const c = node.change ?? 0
  const t = Math.min(1, Math.abs(c))
  if (Math.abs(c) < 0.05) return '#d5d8dc'
  if (c > 0) return `rgb(${Math.round(240 - 40 * t)},${Math.round(200 - 150 * t)},${Math.round(195 - 150 * t)})`
  return `rgb(${Math.round(190 - 140 * t)},${Math.round(225 - 40 * t)},${Math.round(190 - 110 * t)})`
}

export function nodeColor(l: FlameLayout, i: number, mode: 'normal' | 'diff', hits: Uint8Array | null): string {
  const node = l.nodes[i]
  if (hits && !hits[i]) return DIM
  if (hits && hits[i]) return MATCH
  if (mode === 'diff') return diffColor(node)
  if (node.other) return OTHER
  return (node.is_app ? APP : LIB)[l.color[i]]
}

export interface DrawOptions {
  width: number
  rowHeight: number
  view: View
  mode: 'normal' | 'diff'
  hits: Uint8Array | null
  charWidth: number
  focus: number
}

/** Draw the visible part of the layout; returns how many rectangles were drawn. */
export function drawFlame(ctx: CanvasRenderingContext2D, l: FlameLayout, o: DrawOptions): number {
  const { width, rowHeight, view } = o
  const height = (l.maxDepth + 1) * rowHeight
  ctx.clearRect(0, 0, width, height)
  ctx.textBaseline = 'middle'
  let drawn = 0
  let lastFill = ''
  let i = 0
  while (i < l.n) {
    const x0 = toPx(l.x[i], view, width)
    const x1 = toPx(l.x[i] + l.w[i], view, width)
    if (x1 <= 0 || x0 >= width || x1 - x0 < 0.35) { i = l.end[i]; continue }
    const left = Math.max(0, x0)
    const right = Math.min(width, x1)
    const y = l.depth[i] * rowHeight
    const fill = nodeColor(l, i, o.mode, o.hits)
    if (fill !== lastFill) { ctx.fillStyle = fill; lastFill = fill }
    const faded = o.focus > 0 && i < o.focus && l.end[i] > o.focus // ancestors of the zoomed node
    if (faded) ctx.globalAlpha = 0.55
    ctx.fillRect(left, y, Math.max(0.35, right - left - 0.5), rowHeight - 1)
    if (faded) ctx.globalAlpha = 1
    drawn++
    if (right - left > 24) {
      const label = fitLabel(l.nodes[i].function, right - left, o.charWidth)
      if (label) {
        ctx.fillStyle = '#1f2329'
        ctx.fillText(label, left + 3, y + rowHeight / 2)
        lastFill = ''
      }
    }
    i++
  }
  return drawn
}
