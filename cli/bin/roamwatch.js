#!/usr/bin/env node
import { main } from '../dist/main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`roamwatch: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
