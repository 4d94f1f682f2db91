import { describe, expect, it, vi } from 'vitest'
import { defineComponent, h, nextTick } from 'vue'
import { flushPromises, mount } from '@vue/test-utils'
import { createI18n } from 'vue-i18n'
import { createMemoryHistory, createRouter } from 'vue-router'
import VersionEnvFilters from '@/components/VersionEnvFilters.vue'
import en from '@/i18n/en'
import { usePageQuery } from '@/lib/usePageQuery'

/** A page at `url` that uses usePageQuery; its result, the router and how many entries its history has. */
async function page(url: string) {
  const history = createMemoryHistory()
  const router = createRouter({ history, routes: [{ path: '/projects/:pid/records', component: { render: () => h('div') } }] })
  await router.push(url)
  let pq!: ReturnType<typeof usePageQuery>
  const Page = defineComponent({ setup() { pq = usePageQuery(); return () => h('div') } })
  mount(Page, { global: { plugins: [router] } })
  return { pq, router, push: vi.spyOn(router, 'push'), replace: vi.spyOn(router, 'replace') }
}

describe('usePageQuery', () => {
  it('reads the project id and a query key as a string, empty when absent', async () => {
    const { pq, router } = await page('/projects/p1/records?version=1.2&env=prod')
    expect(pq.pid.value).toBe('p1')
    expect(pq.route.query.env).toBe('prod')
    expect(pq.router).toBe(router)
    expect(pq.query('version').value).toBe('1.2')
    expect(pq.query('endpoint').value).toBe('')
    await router.replace({ query: { version: '2.0' } })
    const version = pq.query('version')
    expect(version.value).toBe('2.0')
    await router.replace({ query: {} })
    expect(version.value).toBe('')
  })

  it('a value set replaces the URL (no history entry), keeping the other keys', async () => {
    const { pq, router, push, replace } = await page('/projects/p1/records?version=1.2&env=prod')
    const endpoint = pq.query('endpoint')
    endpoint.value = 'GET /a'
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ version: '1.2', env: 'prod', endpoint: 'GET /a' })
    expect(router.currentRoute.value.path).toBe('/projects/p1/records')
    expect(endpoint.value).toBe('GET /a')
    pq.query('version').value = '2.0'
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ version: '2.0', env: 'prod', endpoint: 'GET /a' })
    expect(replace).toHaveBeenCalledTimes(2)
    expect(push).not.toHaveBeenCalled()
  })

  it("'' removes the key and keeps the others, through the computed and through setQuery", async () => {
    const { pq, router } = await page('/projects/p1/records?version=1.2&env=prod&endpoint=GET%20%2Fa')
    pq.query('version').value = ''
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ env: 'prod', endpoint: 'GET /a' })
    expect(router.currentRoute.value.fullPath).not.toContain('version')
    pq.setQuery('env', '')
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ endpoint: 'GET /a' })
    pq.setQuery('mode', 'continuous')
    await flushPromises()
    expect(router.currentRoute.value.query).toEqual({ endpoint: 'GET /a', mode: 'continuous' })
    expect(pq.query('env').value).toBe('')
  })
})

describe('VersionEnvFilters', () => {
  const i18n = createI18n({ legacy: false, locale: 'en', messages: { en } })
  const stubs = { 'el-select': { name: 'SelectStub', props: ['modelValue'], emits: ['update:modelValue'], template: '<div class="select" :data-value="modelValue"><slot /></div>' }, 'el-option': true }

  it('shows the values and passes each picker update on, cleared ones included', async () => {
    const w = mount(VersionEnvFilters, { props: { version: '1.2', environment: '', versions: ['1.2', '1.1'], environments: ['prod'] }, global: { plugins: [i18n], stubs } })
    const [version, environment] = w.findAllComponents({ name: 'SelectStub' })
    expect(version.props('modelValue')).toBe('1.2')
    expect(environment.props('modelValue')).toBe('')
    version.vm.$emit('update:modelValue', '1.1')
    environment.vm.$emit('update:modelValue', 'prod')
    version.vm.$emit('update:modelValue', undefined)
    await nextTick()
    expect(w.emitted('update:version')).toEqual([['1.1'], [undefined]])
    expect(w.emitted('update:environment')).toEqual([['prod']])
  })
})
