import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { createI18n } from 'vue-i18n'
import CallTree from '@/components/CallTree.vue'
import en from '@/i18n/en'
import { hotPath, indexTree, topFunctions, visibleRows, expandAll } from '@/lib/calltree'
import type { CallNode } from '@/api/types'

const XSS = '<img src=x onerror=alert(1)>'
const tree: CallNode = {
  function: 'root', time_ms: 100, self_ms: 5, is_app: true, children: [
    { function: 'small', time_ms: 5, self_ms: 5 },
    { function: 'big', time_ms: 90, self_ms: 10, children: [{ function: XSS, time_ms: 80, self_ms: 80, is_app: true }] },
  ],
}

describe('call tree rows', () => {
  it('orders children by time and shows only expanded branches', () => {
    const ix = indexTree(tree)
    expect(visibleRows(ix, new Set()).map((r) => r.node.function)).toEqual(['root'])
    const rows = visibleRows(ix, new Set([0]))
    expect(rows.map((r) => [r.node.function, r.depth])).toEqual([['root', 0], ['big', 1], ['small', 1]])
    expect(visibleRows(ix, expandAll(ix)).length).toBe(4)
  })
  it('opens the hot path', () => {
    const ix = indexTree(tree)
    const open = hotPath(ix)
    expect(visibleRows(ix, open).map((r) => r.node.function)).toEqual(['root', 'big', XSS, 'small'])
  })
  it('sums self time per function for the top functions', () => {
    const rec: CallNode = { function: 'r', time_ms: 10, self_ms: 0, children: [{ function: 'f', time_ms: 4, self_ms: 4 }, { function: 'g', time_ms: 6, self_ms: 0, children: [{ function: 'f', time_ms: 6, self_ms: 6 }] }] }
    const top = topFunctions(rec)
    expect(top[0]).toMatchObject({ function: 'f', self_ms: 10, calls: 2 })
  })
})

describe('CallTree component', () => {
  const i18n = createI18n({ legacy: false, locale: 'en', messages: { en } })
  const stubs = { 'el-button': { template: '<button @click="$emit(\'click\')"><slot /></button>' } }
  it('expands and collapses, and renders function names as text', async () => {
    const w = mount(CallTree, { props: { root: tree }, global: { plugins: [i18n], stubs } })
    expect(w.findAll('[data-test="calltree-row"]').length).toBe(4) // the hot path is open
    expect(w.html()).not.toContain('<img')
    expect(w.text()).toContain(XSS)
    await w.findAll('[data-test="calltree-toggle"]')[0].trigger('click') // collapse root
    expect(w.findAll('[data-test="calltree-row"]').length).toBe(1)
    await w.find('[data-test="calltree-toggle"]').trigger('click') // re-open: 'big' kept its state
    expect(w.findAll('[data-test="calltree-row"]').length).toBe(4)
    await w.findAll('[data-test="calltree-toggle"]')[1].trigger('click') // collapse 'big'
    expect(w.findAll('[data-test="calltree-row"]').map((r) => r.find('.fn').text())).toEqual(['root', 'big', 'small'])
  })
})
