import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

// Package entry points → their sources. Subpath entry points (package.json `exports`) come
// first and match exactly; the package roots then match only the bare name.
const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const alias = [
  { find: /^@roamwatch\/core\/errors$/, replacement: src('./core/src/errors.ts') },
  { find: /^@roamwatch\/core\/backoff$/, replacement: src('./core/src/backoff.ts') },
  { find: /^@roamwatch\/processor\/testing$/, replacement: src('./processor/src/testing.ts') },
  { find: /^@roamwatch\/agent\/vici$/, replacement: src('./agent/src/vici/index.ts') },
  { find: /^@roamwatch\/agent\/rtnetlink$/, replacement: src('./agent/src/rtnetlink/index.ts') },
  { find: /^@roamwatch\/agent\/path$/, replacement: src('./agent/src/path/index.ts') },
  { find: /^@roamwatch\/agent\/contract$/, replacement: src('./agent/src/agent/adapters/contract.ts') },
  { find: /^@roamwatch\/agent\/config$/, replacement: src('./agent/src/agent/config.ts') },
  { find: /^@roamwatch\/agent\/testing$/, replacement: src('./agent/src/testing.ts') },
  { find: /^@roamwatch\/core$/, replacement: src('./core/src/index.ts') },
  { find: /^@roamwatch\/agent$/, replacement: src('./agent/src/index.ts') },
  { find: /^@roamwatch\/processor$/, replacement: src('./processor/src/index.ts') },
  { find: /^@roamwatch\/lab$/, replacement: src('./test/lab/index.ts') },
];

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
