/**
 * VICI protocol constants.
 *
 * Spec: strongSwan src/libcharon/plugins/vici/README.md ("Transport protocol",
 * "Packet layer", "Message format") and vici_socket.c / vici_message.c of charon 5.9.8.
 * Constants are grouped by prefix: `Pkt*` for packet types, `Elem*` for message element
 * types, each with an upper-bound sentinel the decoder checks against.
 */

/** Packet types: the first byte of every transport segment. */
/**
 * The VICI commands roamwatch sends: all of them only read charon's state. The VICI socket
 * also controls charon (initiate, terminate, load-conn, unload-conn, redirect, ...); a session
 * refuses any command outside its allowlist (ViciSessionOptions.allowedCommands, default this
 * list) before anything reaches the socket, so neither a bug nor a crafted input can make the
 * agent, watch or doctor change charon. Streamed events (list-sa, list-conn, ike-updown, log…)
 * are registrations, not commands, and are not affected.
 */
export const ViciReadOnlyCommands: readonly string[] = Object.freeze(['version', 'stats', 'list-sas', 'list-conns']);

export const PktCmdRequest = 0;
/** Unnamed response to a CMD_REQUEST. */
export const PktCmdResponse = 1;
/** Unnamed response when the requested command does not exist. */
export const PktCmdUnknown = 2;
/** Named event registration request. */
export const PktEventRegister = 3;
/** Named event deregistration request. */
export const PktEventUnregister = 4;
/** Unnamed confirmation of an event (de)registration. */
export const PktEventConfirm = 5;
/** Unnamed answer when an event (de)registration failed (no such event). */
export const PktEventUnknown = 6;
/** Named event message (also the items of streamed commands such as list-sas). */
export const PktEvent = 7;
/** Upper bound sentinel: every valid packet type is below this. */
export const PktMax = 8;

export type PacketType =
  | typeof PktCmdRequest
  | typeof PktCmdResponse
  | typeof PktCmdUnknown
  | typeof PktEventRegister
  | typeof PktEventUnregister
  | typeof PktEventConfirm
  | typeof PktEventUnknown
  | typeof PktEvent;

/** Human-readable names, indexed by packet type. */
export const packetTypeNames: readonly string[] = [
  'CMD_REQUEST',
  'CMD_RESPONSE',
  'CMD_UNKNOWN',
  'EVENT_REGISTER',
  'EVENT_UNREGISTER',
  'EVENT_CONFIRM',
  'EVENT_UNKNOWN',
  'EVENT',
];

/** Packet types followed by an 8-bit length-prefixed name. */
export function packetIsNamed(type: number): boolean {
  return type === PktCmdRequest || type === PktEventRegister || type === PktEventUnregister || type === PktEvent;
}

/** Packet types that carry a message after the (optional) name. */
export function packetHasMessage(type: number): boolean {
  return type === PktCmdRequest || type === PktCmdResponse || type === PktEvent;
}

/** Message element types. 0 is not used by the protocol. */
export const ElemSectionStart = 1;
/** Closes the innermost open section. */
export const ElemSectionEnd = 2;
/** Named key with a 16-bit length-prefixed value. */
export const ElemKeyValue = 3;
/** Named list start; only list items may follow until LIST_END. */
export const ElemListStart = 4;
/** Unnamed list item with a 16-bit length-prefixed value. */
export const ElemListItem = 5;
/** Closes the open list. */
export const ElemListEnd = 6;
/** Upper bound sentinel: every valid element type is in [1, ElemMax). */
export const ElemMax = 7;

export const elementTypeNames: readonly string[] = [
  'INVALID',
  'SECTION_START',
  'SECTION_END',
  'KEY_VALUE',
  'LIST_START',
  'LIST_ITEM',
  'LIST_END',
];

/** Length of the big-endian segment length header in bytes. */
export const FrameHeaderBytes = 4;
/**
 * Largest segment charon accepts or sends (VICI_MESSAGE_SIZE_MAX, 512 KiB). The length
 * field counts the data only, not the 4-byte header itself.
 */
export const MaxFrameBytes = 512 * 1024;
/** Names (packet names, section/key/list names) have an 8-bit length. */
export const MaxNameBytes = 255;
/** Values (key values, list items) have a 16-bit length. */
export const MaxValueBytes = 65535;

/** charon's default vici socket. */
export const DefaultViciUri = 'unix:///var/run/charon.vici';
