import { fileURLToPath, URL } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import AutoImport from 'unplugin-auto-import/vite'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

// The production build is the server's package data (served with an SPA fallback).
const outDir = fileURLToPath(new URL('../pystrument-server/src/pystrument/server/static/ui', import.meta.url))

export default defineConfig({
  plugins: [
    vue(),
    // Element Plus on demand: components and their styles are imported where they are used.
    AutoImport({ resolvers: [ElementPlusResolver()], dts: 'src/auto-imports.d.ts' }),
    Components({ resolvers: [ElementPlusResolver()], dts: 'src/components.d.ts' }),
  ],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  server: {
    host: '127.0.0.1',
    port: 3000,
    proxy: { '/api': { target: process.env.PYSTRUMENT_API ?? 'http://127.0.0.1:8000', changeOrigin: true } },
  },
  build: {
    outDir,
    emptyOutDir: true,
    chunkSizeWarningLimit: 800,
  },
})
