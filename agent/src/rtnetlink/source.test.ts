import { describe, expect, it } from 'vitest';
import { RtnetlinkConfigError, RtnetlinkSource } from './source.js';

describe('RtnetlinkSource options', () => {
  it('when an option is unknown or out of range, then the constructor names it', () => {
    expect(() => new RtnetlinkSource({ receiveBuffer: 1 } as never)).toThrow(/unknown option "receiveBuffer"/);
    expect(() => new RtnetlinkSource({ receiveBufferBytes: 10 })).toThrow(RtnetlinkConfigError);
    expect(() => new RtnetlinkSource({ netns: 'a b' })).toThrow(/bad netns name/);
    expect(() => new RtnetlinkSource({ restartDelayMs: -1 })).toThrow(/restartDelayMs/);
    expect(() => new RtnetlinkSource({ resyncBackoffMaxMs: Number.NaN })).toThrow(/resyncBackoffMaxMs/);
  });

  it('when the helper binary is missing, then start() says how to build it', async () => {
    const s = new RtnetlinkSource({ helperPath: '/nonexistent/rtnl-pipe' });
    await expect(s.start()).rejects.toThrow(/npm run build:native -w agent/);
  });
});
