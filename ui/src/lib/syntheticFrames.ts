// The frames the SDK and the server make up (not functions of the program): the flame graph's legend
// explains the ones a graph shows.
import type { FlameInput } from '@/lib/flame'

/** Frame name → i18n key under `synthetic.` */
export const SYNTHETIC: Record<string, string> = {
  '[root]': 'root', '[await]': 'await', '[thread]': 'thread', '[other]': 'other', '[pystrument]': 'pystrument',
  '[out-of-context]': 'outOfContext',
}

/** The synthetic frame names among `nodes`, in the order of SYNTHETIC. */
export function syntheticIn(nodes: readonly FlameInput[]): string[] {
  const seen = new Set<string>()
  for (const n of nodes) if (n.function in SYNTHETIC) seen.add(n.function)
  return Object.keys(SYNTHETIC).filter((name) => seen.has(name))
}
