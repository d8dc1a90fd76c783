/**
 * @roamwatch/agent/testing: test doubles, kept out of the library entry points (production
 * code never loads them). FakeCharon is an in-process VICI server with named handlers for
 * commands, streamed lists, events, timeouts and malformed frames (docs/vici.md).
 */
export { FakeCharon, FakeCharonClient, defaultFakeEvents } from './vici/fake-charon.js';
export type { FakeCharonOptions, FakeCommandHandler } from './vici/fake-charon.js';
