import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const alias = {
  '@roamwatch/core': fileURLToPath(new URL('./core/src/index.ts', import.meta.url)),
  '@roamwatch/agent': fileURLToPath(new URL('./agent/src/index.ts', import.meta.url)),
  '@roamwatch/processor': fileURLToPath(new URL('./processor/src/index.ts', import.meta.url)),
  '@roamwatch/lab': fileURLToPath(new URL('./test/lab/index.ts', import.meta.url)),
};

// Two projects:
//  - unit: pure logic, no servers, runs anywhere (`npm run test:unit`).
//  - integration: real Kafka, real InfluxDB, real charon in network namespaces.
//    test/setup/global-setup.ts checks every server first and fails (never skips)
//    with the command that starts it.
export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['{core,agent,processor,cli}/src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/setup/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Lab tests create network namespaces and charon processes: run files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
