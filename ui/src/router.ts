import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'

// Every view is its own chunk: the first page loads only what it shows.
const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('./views/LoginView.vue') },
  { path: '/', name: 'projects', component: () => import('./views/ProjectsView.vue') },
  {
    path: '/projects/:pid',
    component: () => import('./views/ProjectLayout.vue'),
    props: true,
    children: [
      { path: '', name: 'dashboard', component: () => import('./views/DashboardView.vue') },
      { path: 'endpoints', name: 'endpoints', component: () => import('./views/EndpointsView.vue') },
      { path: 'endpoint', name: 'endpoint', component: () => import('./views/EndpointView.vue') },
      { path: 'records', name: 'records', component: () => import('./views/RecordsView.vue') },
      { path: 'records/:rid', name: 'record', component: () => import('./views/RecordDetailView.vue') },
      { path: 'flamegraph', name: 'flamegraph', component: () => import('./views/EndpointFlameView.vue') },
      { path: 'compare', name: 'compare', component: () => import('./views/CompareView.vue') },
      { path: 'analyses/:aid', name: 'analysis', component: () => import('./views/AnalysisView.vue') },
      { path: 'setup', name: 'setup', component: () => import('./views/SetupView.vue') },
    ],
  },
  { path: '/:rest(.*)*', name: 'not-found', component: () => import('./views/NotFoundView.vue') },
]

export const router = createRouter({ history: createWebHistory(), routes })
