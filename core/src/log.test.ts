import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { createLogger, resolveLogLevel, resolveLogFormat } from './log.js';

function capture(format: 'json' | 'text', level: 'info' | 'debug' = 'info') {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  const logger = createLogger({ format, level, stream, defaultMeta: { host: 'gw-1' } });
  return { logger, text: () => chunks.join('') };
}

describe('logger', () => {
  it('when format is json, then each line is a JSON object with level, message and meta', async () => {
    const { logger, text } = capture('json');
    logger.child({ component: 'vici' }).info('connected', { uri: 'unix:///x' });
    logger.debug('hidden');
    await new Promise((r) => setImmediate(r));
    const lines = text().trim().split('\n');
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]!);
    expect(o).toMatchObject({ level: 'info', message: 'connected', component: 'vici', host: 'gw-1', uri: 'unix:///x' });
  });

  it('when format is text, then the line is readable with component and fields', async () => {
    const { logger, text } = capture('text', 'debug');
    logger.child({ component: 'rtnetlink' }).debug('resync done', { recovered: 3 });
    await new Promise((r) => setImmediate(r));
    expect(text()).toMatch(/debug \[rtnetlink\] resync done .*recovered=3/);
  });

  it('when format is text, then the line starts with the UTC time and its zone, as findings do', async () => {
    const { logger, text } = capture('text');
    logger.info('hello');
    await new Promise((r) => setImmediate(r));
    expect(text()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z info {2}hello/);
  });

  it('when the level or format is unknown, then the error names the bad value', () => {
    expect(() => resolveLogLevel('loud')).toThrow(/"loud"/);
    expect(() => resolveLogFormat('xml')).toThrow(/"xml"/);
  });
});
