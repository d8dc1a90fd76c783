/**
 * The real source adapters for a config: rtnetlink, vici and the path analyzer.
 */
import type { Logger } from '@roamwatch/core';
import type { AgentConfig } from './config.js';
import type { SourceAdapter } from './sources.js';
import { RtnetlinkAdapter } from './adapters/rtnetlink.js';
import { ViciAdapter } from './adapters/vici.js';
import { PathAdapter } from './adapters/path.js';

export { RtnetlinkAdapter, ViciAdapter, PathAdapter };

export function createSourceAdapters(config: Pick<AgentConfig, 'vici' | 'rtnetlink' | 'path'>, _logger?: Logger): SourceAdapter[] {
  const out: SourceAdapter[] = [];
  let rt: RtnetlinkAdapter | undefined;
  if (config.rtnetlink.enabled) {
    rt = new RtnetlinkAdapter({ receiveBufferBytes: config.rtnetlink.receiveBufferBytes });
    out.push(rt);
  }
  if (config.vici.enabled) {
    out.push(new ViciAdapter({ uri: config.vici.uri, reconnectMinMs: config.vici.reconnectMinMs, reconnectMaxMs: config.vici.reconnectMaxMs, commandTimeoutMs: config.vici.commandTimeoutMs }));
  }
  if (config.path.enabled && rt && config.vici.enabled) {
    const rtA = rt;
    out.push(new PathAdapter({ strongswanConf: config.path.strongswanConf, swanctlConf: config.path.swanctlConf, remediationDir: config.path.remediationDir, netState: () => rtA.netState() }));
  }
  return out;
}
