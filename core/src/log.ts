/**
 * Logging (winston). JSON lines in production (the default when stderr is not a
 * terminal, or with ROAMWATCH_LOG_FORMAT=json), readable one-liners on a terminal
 * (ROAMWATCH_LOG_FORMAT=text forces it). The level comes from the config, else
 * ROAMWATCH_LOG_LEVEL, else `info`. Logs go to stderr so that stdout stays free for
 * data (JSON-lines sinks, `--format json`).
 *
 * Components take a child logger named after themselves (`vici`, `rtnetlink`,
 * `sink.kafka`…): `logger.child({ component: 'vici' })`.
 */
import winston from 'winston';
import { redactFormat } from './redact.js';
import { formatTime } from './terminal.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];
export type LogFormat = 'json' | 'text';
export type Logger = winston.Logger;

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where to write; default process.stderr. */
  stream?: NodeJS.WritableStream;
  /** Fields added to every line, e.g. { host: 'gw-17' }. */
  defaultMeta?: Record<string, unknown>;
}

export function resolveLogLevel(level?: string): LogLevel {
  const l = (level ?? process.env.ROAMWATCH_LOG_LEVEL ?? 'info').toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(l)) return l as LogLevel;
  throw new Error(`log level "${l}" is not one of ${LOG_LEVELS.join(', ')}`);
}

export function resolveLogFormat(format?: string, stream: NodeJS.WritableStream = process.stderr): LogFormat {
  const f = format ?? process.env.ROAMWATCH_LOG_FORMAT;
  if (f === 'json' || f === 'text') return f;
  if (f !== undefined && f !== '') throw new Error(`log format "${f}" is not one of json, text`);
  return (stream as { isTTY?: boolean }).isTTY ? 'text' : 'json';
}

const textFormat = winston.format.printf((info) => {
  const { level, message, timestamp, component, ...rest } = info as Record<string, unknown>;
  const extras = Object.entries(rest)
    .filter(([k]) => typeof k === 'string')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const comp = component ? `[${String(component)}] ` : '';
  return `${String(timestamp)} ${String(level).padEnd(5)} ${comp}${String(message)}${extras ? ' ' + extras : ''}`;
});

export function createLogger({ level, format, stream = process.stderr, defaultMeta }: LoggerOptions = {}): Logger {
  const fmt = resolveLogFormat(format, stream);
  return winston.createLogger({
    level: resolveLogLevel(level),
    defaultMeta,
    format:
      fmt === 'json'
        ? winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), redactFormat(), winston.format.json())
        : winston.format.combine(winston.format.timestamp({ format: () => formatTime(Date.now()) }), winston.format.errors({ stack: false }), redactFormat(), textFormat),
    transports: [new winston.transports.Stream({ stream })],
  });
}

/** A logger that drops everything (tests, library use without logging). */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
