// Call tree rows for a virtual list: nodes are numbered once; the visible rows follow the expanded set.
import type { CallNode } from '@/api/types'

export interface TreeIndex { nodes: CallNode[]; kids: number[][]; depth: number[]; parent: number[] }
export interface TreeRow { id: number; depth: number; hasChildren: boolean; expanded: boolean; node: CallNode }

export function indexTree(root: CallNode): TreeIndex {
  const nodes: CallNode[] = []
  const kids: number[][] = []
  const depth: number[] = []
  const parent: number[] = []
  const stack: Array<[CallNode, number, number]> = [[root, -1, 0]]
  while (stack.length) {
    const [node, p, d] = stack.pop()!
    const id = nodes.length
    nodes.push(node); kids.push([]); depth.push(d); parent.push(p)
    if (p >= 0) kids[p].push(id)
    const children = node.children ?? []
    // heaviest child first: the hot path reads top to bottom
    const sorted = [...children].sort((a, b) => b.time_ms - a.time_ms)
    for (let k = sorted.length - 1; k >= 0; k--) stack.push([sorted[k], id, d + 1])
  }
  return { nodes, kids, depth, parent }
}

export function visibleRows(ix: TreeIndex, expanded: ReadonlySet<number>): TreeRow[] {
  const rows: TreeRow[] = []
  if (!ix.nodes.length) return rows
  const stack = [0]
  while (stack.length) {
    const id = stack.pop()!
    const open = expanded.has(id)
    rows.push({ id, depth: ix.depth[id], hasChildren: ix.kids[id].length > 0, expanded: open, node: ix.nodes[id] })
    if (open) for (let k = ix.kids[id].length - 1; k >= 0; k--) stack.push(ix.kids[id][k])
  }
  return rows
}

/** Expand along the heaviest child while it holds at least `share` of the root's time. */
export function hotPath(ix: TreeIndex, share = 0.1): Set<number> {
  const open = new Set<number>()
  const total = ix.nodes[0]?.time_ms ?? 0
  let id = 0
  while (ix.kids[id]?.length) {
    open.add(id)
    const next = ix.kids[id][0]
    if (ix.nodes[next].time_ms < total * share) break
    id = next
  }
  return open
}

export function expandAll(ix: TreeIndex): Set<number> {
  const open = new Set<number>()
  ix.kids.forEach((k, id) => { if (k.length) open.add(id) })
  return open
}

/** Top functions of one tree by self time (a function called in several places is summed). */
export function topFunctions(root: CallNode, limit = 20): Array<{ function: string; file: string; line: number; self_ms: number; total_ms: number; calls: number; is_app: boolean }> {
  const by = new Map<string, { function: string; file: string; line: number; self_ms: number; total_ms: number; calls: number; is_app: boolean }>()
  const stack: Array<[CallNode, Set<string>]> = [[root, new Set()]]
  while (stack.length) {
    const [n, seen] = stack.pop()!
    const key = `${n.function}\u0000${n.file ?? ''}\u0000${n.line ?? 0}`
    let e = by.get(key)
    if (!e) { e = { function: n.function, file: n.file ?? '', line: n.line ?? 0, self_ms: 0, total_ms: 0, calls: 0, is_app: !!n.is_app }; by.set(key, e) }
    e.self_ms += n.self_ms
    e.calls += 1
    if (!seen.has(key)) e.total_ms += n.time_ms // recursion is counted once
    const next = new Set(seen); next.add(key)
    for (const c of n.children ?? []) stack.push([c, next])
  }
  return [...by.values()].sort((a, b) => b.self_ms - a.self_ms).slice(0, limit)
}
