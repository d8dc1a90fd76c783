/**
 * @roamwatch/processor/testing: test doubles and synthetic streams, kept out of the main
 * entry point (production code never loads them). For unit tests, the benchmarks and demos.
 */
export * from './synthetic.js';
