/**
 * Public API of the VICI client (strongSwan charon's control protocol). See docs/vici.md.
 * Usable alone: `@roamwatch/agent/vici` (no kafkajs, no spool, no event contract). The
 * in-process fake charon for tests is in `@roamwatch/agent/testing`.
 */
export * from './constants.js';
export * from './errors.js';
export { FrameDecoder, decodeMessage, decodePacket, encodeMessage, encodePacket } from './codec.js';
export type { DecodeOptions, EncodeOptions, PacketInput, ViciInputMessage, ViciInputValue, ViciMessage, ViciPacket, ViciScalarInput, ViciValue } from './codec.js';
export { parseViciUri } from './connection.js';
export type { ViciDisconnectReason, ViciEndpoint } from './connection.js';
export { ViciSession, resolveViciSessionOptions } from './session.js';
export type {
  ViciCallOptions,
  ViciConnectionEvent,
  ViciEvent,
  ViciOverflowPolicy,
  ViciReconnectOptions,
  ViciSessionCounters,
  ViciSessionOptions,
  ViciSubscribeOptions,
} from './session.js';
export { ViciClient } from './client.js';
export type { CommandResult, InitiateOptions, ListSasFilter, RekeyOptions, TerminateOptions } from './client.js';
export * from './types.js';
