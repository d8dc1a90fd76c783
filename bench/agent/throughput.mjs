#!/usr/bin/env node
// One throughput run, in its own process so that its CPU and RSS are the agent's alone:
// a synthetic source emits EVENTS route.added/route.removed payloads (real contract payloads,
// validated and stamped like rtnetlink's) as fast as the event loop allows, through the real
// composition (createAgentSources → spool → SpooledSink → KafkaTransport, gzip, acks=all,
// idempotent) to the real broker. It prints one JSON line: events, seconds from first emit to
// the last acknowledgement, events/s, cpu seconds (user+system), peak RSS, spool bytes peak.
//
// Usage: node bench/agent/throughput.mjs EVENTS TOPIC SPOOL_DIR [compression] [FLAGS_JSON]
// FLAGS_JSON: more agent config keys, e.g. '{"kafka.recordMaxEvents":"1"}' (bench/datapath: the
// per-record path against batch records in the same run).
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { silentLogger } from '../../core/dist/index.js';
import { loadAgentConfig, runAgent } from '../../agent/dist/index.js';

const [eventsArg, topic, spoolDir, compression = 'gzip', flagsJson = '{}'] = process.argv.slice(2);
const EVENTS = Number(eventsArg ?? 200_000);
rmSync(spoolDir, { recursive: true, force: true });

const { config } = loadAgentConfig({
  env: { ...process.env },
  hostname: 'bench-gw',
  flags: { sink: 'kafka', 'kafka.topic': topic, 'spool.dir': spoolDir, 'status.intervalMs': '0', 'kafka.compression': compression, 'kafka.topicPartitions': '1',
    // the per-event data path: every route change its own event, however fast (bench/storm measures coalescing)
    'rtnetlink.coalesce.enabled': 'false',
    ...JSON.parse(flagsJson) },
});

/** A source that emits route changes in chunks, one chunk per event-loop turn. */
class SyntheticRoutes {
  name = 'rtnetlink';
  start(ctx) {
    this.ctx = ctx;
  }
  report() {
    return { state: 'connected' };
  }
  async stop() {}
  run(total, chunk = 2000) {
    return new Promise((resolve) => {
      let i = 0;
      const step = () => {
        const end = Math.min(total, i + chunk);
        for (; i < end; i++) {
          const route = { family: 4, table: 254, dst: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`, type: 'unicast', protocol: 'static', scope: 'link', oif: 'eth0', oifIndex: 2 };
          this.ctx.emit(i % 2 ? 'route.removed' : 'route.added', { route });
        }
        if (i < total) setImmediate(step);
        else resolve();
      };
      step();
    });
  }
}

const src = new SyntheticRoutes();
const agent = runAgent({ config, logger: silentLogger(), sources: [src] });
agent.sources.events$.subscribe(() => undefined);
await new Promise((r) => setTimeout(r, 50));
// Warm-up: connect, create the topic, initialise the idempotent producer.
await src.run(1000);
if (!(await agent.sink.flush(60_000))) throw new Error('warm-up: Kafka did not acknowledge within 60 s');
const sent0 = agent.sink.report().eventsSent;

let rssPeak = process.memoryUsage.rss();
let spoolPeak = 0;
const sampler = setInterval(() => {
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  spoolPeak = Math.max(spoolPeak, agent.sink.report().spool.bytes);
}, 50);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await src.run(EVENTS);
const tEmitted = performance.now();
const ok = await agent.sink.flush(300_000);
const t1 = performance.now();
const cpu = process.cpuUsage(cpu0);
clearInterval(sampler);
rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
const sent = agent.sink.report().eventsSent - sent0;
await agent.stop('bench done');
const seconds = (t1 - t0) / 1000;
process.stdout.write(
  JSON.stringify({
    events: EVENTS,
    delivered: sent,
    allAcknowledged: ok,
    compression,
    flags: JSON.parse(flagsJson),
    seconds: +seconds.toFixed(3),
    emitSeconds: +((tEmitted - t0) / 1000).toFixed(3),
    eventsPerSecond: Math.round(sent / seconds),
    cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(3),
    cpuCores: +((cpu.user + cpu.system) / 1e6 / seconds).toFixed(2),
    rssPeakMiB: +(rssPeak / 2 ** 20).toFixed(1),
    spoolPeakMiB: +(spoolPeak / 2 ** 20).toFixed(1),
  }) + '\n',
);
process.exit(0);
