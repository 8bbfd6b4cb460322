import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['__tests__/**/*.test.ts', '__tests__/**/*.test.itg.ts'],
    // Tests that start real servers or clusters set their own, longer timeouts.
    testTimeout: 30_000,
    hookTimeout: 600_000,
  },
})
