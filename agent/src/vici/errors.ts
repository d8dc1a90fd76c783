/**
 * Every error the VICI client raises. One base class carrying a bounded `code`, whether a
 * retry may help (`retriable`) and the `cause`; subclasses add context. Callers decide on
 * `code`/`retriable` alone, never on message text.
 *
 * ViciError is part of roamwatch's one error hierarchy: it extends RoamwatchError from
 * `@roamwatch/core/errors`, a module with no dependencies, so the client stays usable alone
 * (it loads neither the event contract nor the logger). Its codes are the client's own
 * bounded names (kebab-case, below).
 *
 * Decode errors (`ViciDecodeError` subclasses) describe malformed input: the decoder throws
 * nothing else, whatever the bytes (see codec.fuzz.test.ts).
 */

import { RoamwatchError } from '@roamwatch/core/errors';

export type ViciErrorCode =
  | 'truncated'
  | 'frame-too-large'
  | 'unknown-packet-type'
  | 'unknown-element-type'
  | 'nested-list'
  | 'unexpected-section-end'
  | 'unterminated-section'
  | 'unterminated-list'
  | 'unexpected-element'
  | 'duplicate-key'
  | 'invalid-payload'
  | 'trailing-data'
  | 'limit-exceeded'
  | 'invalid-value'
  | 'config'
  | 'connection'
  | 'timeout'
  | 'command-unknown'
  | 'command-not-allowed'
  | 'event-unknown'
  | 'command-failed'
  | 'protocol'
  | 'closed';

export interface ViciErrorOptions {
  cause?: unknown;
}

export class ViciError extends RoamwatchError {
  declare readonly code: ViciErrorCode;

  constructor(code: ViciErrorCode, message: string, retriable: boolean, options?: ViciErrorOptions) {
    super(message, { code, retriable, cause: options?.cause });
    this.name = new.target.name;
  }
}

/** Base of every malformed-input error. `offset` is the byte offset in the packet or message. */
export class ViciDecodeError extends ViciError {
  readonly offset: number;
  constructor(code: ViciErrorCode, message: string, offset: number) {
    super(code, `${message} (at byte ${offset})`, false);
    this.offset = offset;
  }
}

/** The input ends inside a frame, packet header, name or value. */
export class ViciTruncatedError extends ViciDecodeError {
  constructor(what: string, offset: number, needed: number, available: number) {
    super('truncated', `truncated ${what}: needs ${needed} bytes, ${available} available`, offset);
  }
}

/** A segment length field exceeds the limit (512 KiB unless configured lower). */
export class ViciFrameTooLargeError extends ViciDecodeError {
  readonly length: number;
  readonly limit: number;
  constructor(length: number, limit: number) {
    super('frame-too-large', `frame length ${length} exceeds the limit of ${limit} bytes`, 0);
    this.length = length;
    this.limit = limit;
  }
}

export class ViciUnknownPacketTypeError extends ViciDecodeError {
  readonly packetType: number;
  constructor(packetType: number) {
    super('unknown-packet-type', `unknown packet type ${packetType}`, 0);
    this.packetType = packetType;
  }
}

export class ViciUnknownElementTypeError extends ViciDecodeError {
  readonly elementType: number;
  constructor(elementType: number, offset: number) {
    super('unknown-element-type', `unknown message element type ${elementType}`, offset);
    this.elementType = elementType;
  }
}

/** LIST_START while a list is open: lists cannot nest. */
export class ViciNestedListError extends ViciDecodeError {
  constructor(name: string, openList: string, offset: number) {
    super('nested-list', `list "${name}" opened inside list "${openList}"`, offset);
  }
}

/** SECTION_END with no open section. */
export class ViciUnexpectedSectionEndError extends ViciDecodeError {
  constructor(offset: number) {
    super('unexpected-section-end', 'SECTION_END without a matching SECTION_START', offset);
  }
}

/** The message ends with sections still open. */
export class ViciUnterminatedSectionError extends ViciDecodeError {
  constructor(name: string, offset: number) {
    super('unterminated-section', `section "${name}" is not closed at the end of the message`, offset);
  }
}

/** The message ends with a list still open. */
export class ViciUnterminatedListError extends ViciDecodeError {
  constructor(name: string, offset: number) {
    super('unterminated-list', `list "${name}" is not closed at the end of the message`, offset);
  }
}

/**
 * An element where the format forbids it: KEY_VALUE, SECTION_START or SECTION_END inside a
 * list; LIST_ITEM or LIST_END outside a list.
 */
export class ViciUnexpectedElementError extends ViciDecodeError {
  readonly elementType: string;
  constructor(elementType: string, context: string, offset: number) {
    super('unexpected-element', `${elementType} not allowed ${context}`, offset);
    this.elementType = elementType;
  }
}

/** A key, list or section name appears twice in one section. */
export class ViciDuplicateKeyError extends ViciDecodeError {
  readonly key: string;
  constructor(key: string, offset: number) {
    super('duplicate-key', `duplicate name "${key}" in one section`, offset);
    this.key = key;
  }
}

/** Bytes after the end of a packet that carries no message (or after the packet name). */
export class ViciTrailingDataError extends ViciDecodeError {
  constructor(packetType: string, extra: number, offset: number) {
    super('trailing-data', `${extra} unexpected bytes after a ${packetType} packet`, offset);
  }
}

/** Encoding refused: a name, value or message exceeds the protocol limits. */
export class ViciLimitError extends ViciError {
  readonly limit: number;
  readonly actual: number;
  constructor(what: string, actual: number, limit: number) {
    super('limit-exceeded', `${what} is ${actual} bytes, the limit is ${limit}`, false);
    this.limit = limit;
    this.actual = actual;
  }
}

/** Encoding refused: a value of a type VICI cannot carry (e.g. a list inside a list). */
export class ViciInvalidValueError extends ViciError {
  constructor(path: string, reason: string) {
    super('invalid-value', `cannot encode ${path}: ${reason}`, false);
  }
}

/** A command outside the session's allowlist (ViciReadOnlyCommands by default): never sent. */
export class ViciCommandNotAllowedError extends ViciError {
  readonly command: string;
  constructor(command: string, allowed: readonly string[]) {
    super('command-not-allowed', `vici command "${command}" is not allowed on this session (allowed: ${allowed.join(', ')}): roamwatch only reads charon's state`, false);
    this.command = command;
  }
}

/** Bad options, found before connecting. */
export class ViciConfigError extends ViciError {
  constructor(message: string) {
    super('config', message, false);
  }
}

/** Connecting failed, or the connection broke. Retriable: reconnecting may help. */
export class ViciConnectionError extends ViciError {
  readonly uri: string;
  constructor(uri: string, message: string, options?: ViciErrorOptions) {
    super('connection', `${uri}: ${message}`, true, options);
    this.uri = uri;
  }
}

/** A command (or (de)registration) got no answer in time. The connection is reset. */
export class ViciTimeoutError extends ViciError {
  readonly operation: string;
  readonly timeoutMs: number;
  constructor(operation: string, timeoutMs: number) {
    super('timeout', `${operation} got no answer within ${timeoutMs} ms`, true);
    this.operation = operation;
    this.timeoutMs = timeoutMs;
  }
}

/** charon answered CMD_UNKNOWN: it has no such command (plugin or version mismatch). */
export class ViciCommandUnknownError extends ViciError {
  readonly command: string;
  constructor(command: string) {
    super('command-unknown', `charon does not know the command "${command}"`, false);
    this.command = command;
  }
}

/** charon answered EVENT_UNKNOWN: no such event, or unregistering one not registered. */
export class ViciEventUnknownError extends ViciError {
  readonly event: string;
  constructor(event: string, operation: 'register' | 'unregister') {
    super('event-unknown', `charon refused to ${operation} the event "${event}"`, false);
    this.event = event;
  }
}

/** A command answered `success = no`; `errmsg` is charon's text. */
export class ViciCommandFailedError extends ViciError {
  readonly command: string;
  readonly errmsg: string | undefined;
  constructor(command: string, errmsg: string | undefined) {
    super('command-failed', `${command} failed: ${errmsg ?? '(no errmsg)'}`, false);
    this.command = command;
    this.errmsg = errmsg;
  }
}

/** charon sent a packet that makes no sense here (e.g. a response with no command in flight). */
export class ViciProtocolError extends ViciError {
  constructor(message: string) {
    super('protocol', message, true);
  }
}

/** The session was closed by its owner; pending and later calls fail with this. */
export class ViciSessionClosedError extends ViciError {
  constructor(operation: string) {
    super('closed', `${operation}: the vici session is closed`, false);
  }
}

/** A message that decoded fine but is not the shape its name promises (typed views, types.ts). */
export class ViciPayloadError extends ViciError {
  readonly kind: string;
  constructor(kind: string, reason: string) {
    super('invalid-payload', `invalid ${kind} payload: ${reason}`, false);
    this.kind = kind;
  }
}
