// Runs only the fixture capture against a real charon in the lab (never part of CI):
//   npx vitest run --config test/vici/vitest.capture.config.ts
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/vici/capture-fixtures.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
