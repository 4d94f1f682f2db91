import { defineConfig } from 'vitest/config'

// End-to-end: the real pystrument-server (e2e/server.ts) + Debian's Chromium.
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    testTimeout: 45_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    reporters: ['default'],
  },
})
