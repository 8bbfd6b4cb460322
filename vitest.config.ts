import { defineConfig } from 'vitest/config'

// Three kinds of tests, each a project you can run alone (`npm run test:unit`, `test:integration`,
// `test:e2e`); `vitest run` runs all three.
//
//   unit         pure code and fakes, in-process: `*.test.ts` outside __tests__/e2e/
//   integration  real processes or servers on this machine (Prometheus, kubectl, an HTTP
//                proxy, a fake API server): `*.test.itg.ts`
//   e2e          the bundled action on the local cluster: __tests__/e2e/*.test.ts, one file at
//                a time (they share the one cluster), brought up once by the global setup. Each
//                case creates what it needs, so the files pass alone and in any order.
export default defineConfig({
  test: {
    // Tests that start real servers or clusters set their own, longer timeouts.
    testTimeout: 30_000,
    hookTimeout: 600_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['__tests__/**/*.test.ts'], exclude: ['__tests__/e2e/**', '**/node_modules/**'] },
      },
      {
        extends: true,
        test: { name: 'integration', include: ['__tests__/**/*.test.itg.ts'], exclude: ['__tests__/e2e/**', '**/node_modules/**'] },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['__tests__/e2e/**/*.test.ts'],
          globalSetup: ['__tests__/e2e/global-setup.ts'],
          fileParallelism: false,
          // A case's own budget covers its runs; the global setup may build the cluster.
          testTimeout: 15 * 60_000,
        },
      },
    ],
  },
})
