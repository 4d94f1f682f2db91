import { createApp } from 'vue'
import { createPinia } from 'pinia'
import { ElMessage } from 'element-plus'
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'
import App from './App.vue'
import { router } from './router'
import { i18n } from './i18n'
import { setHttpHooks } from './api'
import { ApiError } from './api/http'
import { useAuthStore } from './stores/auth'
import './styles.css'

const app = createApp(App)
const pinia = createPinia()
app.use(pinia).use(router).use(i18n)

const auth = useAuthStore(pinia)
setHttpHooks({
  token: () => auth.token,
  onUnauthorized: () => {
    const here = router.currentRoute.value
    if (here.name !== 'login') void router.push({ name: 'login', query: { redirect: here.fullPath } })
  },
  notify: (msg) => { ElMessage({ type: 'error', message: msg, grouping: true }) },
})

// API errors were already shown by the interceptor (or led to the login page): not unhandled.
window.addEventListener('unhandledrejection', (ev) => { if (ev.reason instanceof ApiError) ev.preventDefault() })

app.mount('#app')
