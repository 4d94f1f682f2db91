// Merged flame graphs: expanding an "other" node, and the diff of two versions.
import type { FlameNode, MergedFlame } from '@/api/types'
import type { FlameInput } from './flame'

function findWithParent(root: FlameNode, path: string): [FlameNode, FlameNode | null] | null {
  const stack: Array<[FlameNode, FlameNode | null]> = [[root, null]]
  while (stack.length) {
    const [n, p] = stack.pop()!
    if (n.path === path) return [n, p]
    for (const c of n.children ?? []) stack.push([c, n])
  }
  return null
}

/** Put the content of an expanded "other" node in its place. The server answers `expand=<path>`
 *  either with the whole tree (same root path: it replaces ours) or with the "other" node's subtree
 *  (its children are the siblings that had been pruned). Returns a new root object. */
export function spliceExpanded(root: FlameNode, otherPath: string, answer: FlameNode): FlameNode {
  if (answer.path === root.path && !answer.other) return { ...answer }
  const found = findWithParent(root, otherPath)
  if (!found || !found[1]) return root
  const [other, parent] = found
  const content = answer.path === otherPath || answer.other ? answer.children : [answer]
  const i = parent.children.indexOf(other)
  parent.children.splice(i, 1, ...content)
  return { ...root }
}

const keyOf = (n: FlameNode) => `${n.function}\u0000${n.file}\u0000${n.line}`

/** Diff of two merged flame graphs, per request: width is head time, colour the change against base. */
export function diffTrees(base: MergedFlame, head: MergedFlame): FlameInput {
  const bs = base.records ? 1 / base.records : 0
  const hs = head.records ? 1 / head.records : 0
  function walk(h: FlameNode, b: FlameNode | undefined): FlameInput {
    const time = h.time_ms * hs
    const baseMs = b ? b.time_ms * bs : 0
    const byKey = new Map((b?.children ?? []).map((c) => [keyOf(c), c]))
    return {
      function: h.function, file: h.file, line: h.line, is_app: h.is_app, other: h.other, path: h.path,
      time_ms: time, self_ms: h.self_ms * hs, base_ms: baseMs,
      change: baseMs > 0 ? (time - baseMs) / baseMs : time > 0 ? 1 : 0,
      children: (h.children ?? []).map((c) => walk(c, byKey.get(keyOf(c)))),
    }
  }
  return walk(head.root, keyOf(base.root) === keyOf(head.root) ? base.root : undefined)
}
