import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    globalSetup: ['./scripts/test-tmpdir.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // e2e tests spawn daemons on loopback; two cores cannot run many files at once
          fileParallelism: false,
        },
      },
    ],
  },
})
