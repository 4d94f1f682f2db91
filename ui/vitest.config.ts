import { defineConfig, mergeConfig } from 'vitest/config'
import viteConfig from './vite.config'

export default mergeConfig(viteConfig, defineConfig({
  test: { environment: 'jsdom', include: ['tests/**/*.spec.ts'], server: { deps: { inline: ['element-plus'] } } },
}))
