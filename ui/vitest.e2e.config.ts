import { defineConfig } from 'vitest/config'

// End-to-end: a real server (the stand-in until pystrument-server lands) + Debian's Chromium.
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    testTimeout: 45_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    reporters: ['default'],
  },
})
