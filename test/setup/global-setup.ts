// vitest globalSetup of the `integration` project: checks that every real server the
// integration tests need is up before any test file runs. When one is not, it throws
// an Error that names each missing server and the command that starts it. It never
// skips: a missing server is a failed run, not a green one.
//
// To add a prerequisite (a server, a binary, a privilege), push a ServerCheck onto
// `checks` below; all checks run in parallel, and every failure is reported at once.
import { InfluxDB } from '@influxdata/influxdb-client';
import { Kafka, logLevel } from 'kafkajs';
import type { KafkaConfig } from 'kafkajs';
import fs from 'node:fs';
import type { InfluxAuthSettings, InfluxSettings, KafkaSettings, SecureKafkaSettings } from './servers.js';
import { INSTALL_COMMAND, START_COMMAND, servers } from './servers.js';
import { labCheck } from '../lab/prereq.js';

export interface ServerCheck {
  /** What is checked, as the error shows it, e.g. "Kafka at 127.0.0.1:9092". */
  name: string;
  /** The command that fixes a failure of this check. */
  fix: string;
  /** Resolves when the prerequisite is usable; rejects (or throws) with the reason. */
  run: () => Promise<void> | void;
  /** Upper bound for run(); default 15 s. */
  timeoutMs?: number;
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function reason(err: unknown): string {
  if (err instanceof Error) {
    const cause =
      err.cause instanceof Error && !err.message.includes(err.cause.message) ? ` (${err.cause.message})` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}

/** One short-lived admin client (bounded timeouts, one retry) asks the cluster to describe itself. */
async function describeCluster(conn: Pick<KafkaConfig, 'brokers' | 'ssl' | 'sasl'>) {
  const kafka = new Kafka({
    clientId: 'roamwatch-global-setup',
    ...conn,
    connectionTimeout: 3_000,
    requestTimeout: 5_000,
    retry: { retries: 1, initialRetryTime: 200, maxRetryTime: 1_000 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await admin.describeCluster();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Kafka answers a metadata request (admin describeCluster) with at least one broker. */
export function kafkaCheck(settings: KafkaSettings): ServerCheck {
  return {
    name: `Kafka at ${settings.brokers.join(',')}`,
    fix: START_COMMAND,
    timeoutMs: 15_000,
    run: async () => {
      const cluster = await describeCluster({ brokers: settings.brokers });
      if (cluster.brokers.length === 0) throw new Error('the cluster reports no live broker');
    },
  };
}

/** InfluxDB passes /health and answers a Flux query on the test bucket. */
export function influxCheck(settings: InfluxSettings): ServerCheck {
  return {
    name: `InfluxDB at ${settings.url} (bucket ${settings.bucket})`,
    fix: START_COMMAND,
    timeoutMs: 15_000,
    run: async () => {
      const res = await fetch(`${settings.url}/health`, { signal: AbortSignal.timeout(5_000) });
      const body = await res.text();
      if (!res.ok || !body.includes('"pass"')) {
        throw new Error(`GET /health answered ${res.status}: ${body.slice(0, 200)}`);
      }
      const queryApi = new InfluxDB({ url: settings.url, token: settings.token, timeout: 5_000 }).getQueryApi(
        settings.org,
      );
      try {
        await queryApi.collectRows(`from(bucket: ${JSON.stringify(settings.bucket)}) |> range(start: -1m) |> limit(n: 1)`);
      } catch (err) {
        throw new Error(`Flux query on bucket ${settings.bucket} failed: ${reason(err)}`);
      }
    },
  };
}

/** The SASL_SSL listener answers a TLS + SCRAM-SHA-512 login of the agent's user. */
export function secureKafkaCheck(settings: SecureKafkaSettings): ServerCheck {
  return {
    name: `Kafka SASL_SSL listener at ${settings.brokers.join(',')} (CA ${settings.caFile})`,
    // A broker started by an older scripts/kafka/start.sh has no SASL_SSL listener yet.
    fix: `${START_COMMAND}; a broker started before the SASL_SSL listener existed: bash scripts/servers.sh restart kafka`,
    timeoutMs: 15_000,
    run: async () => {
      await describeCluster({
        brokers: settings.brokers,
        ssl: { ca: [fs.readFileSync(settings.caFile, 'utf8')] },
        sasl: { mechanism: 'scram-sha-512', username: 'roamwatch-agent', password: fs.readFileSync(settings.passwordFile('roamwatch-agent'), 'utf8').trim() },
      });
    },
  };
}

/** The InfluxDB with authentication refuses no token and accepts the test token. */
export function influxAuthCheck(settings: InfluxAuthSettings): ServerCheck {
  return {
    name: `InfluxDB with authentication at ${settings.url}`,
    fix: START_COMMAND,
    timeoutMs: 15_000,
    run: async () => {
      const write = (token?: string) =>
        fetch(`${settings.url}/api/v2/write?org=${settings.org}&bucket=${encodeURIComponent(settings.bucket)}&precision=ns`, {
          method: 'POST',
          body: 'roamwatch_setup_check ok=1i',
          headers: token ? { authorization: `Token ${token}` } : {},
          signal: AbortSignal.timeout(5_000),
        });
      const anonymous = await write();
      if (anonymous.status !== 401) throw new Error(`a write without a token answered ${anonymous.status}, not 401: authentication is off`);
      const ok = await write(fs.readFileSync(settings.tokenFile, 'utf8').trim());
      if (ok.status !== 204) throw new Error(`a write with the token of ${settings.tokenFile} answered ${ok.status}`);
    },
  };
}

/** Every prerequisite of the integration tests. Extend with checks.push(...). */
export const checks: ServerCheck[] = [kafkaCheck(servers.kafka), influxCheck(servers.influx), secureKafkaCheck(servers.secureKafka), influxAuthCheck(servers.influxAuth), labCheck()];

/** Runs the checks in parallel; throws one Error that lists every failure and its fix. */
export async function runChecks(list: readonly ServerCheck[] = checks): Promise<void> {
  const results = await Promise.allSettled(
    list.map((c) => withTimeout(Promise.resolve().then(c.run), c.timeoutMs ?? 15_000, c.name)),
  );
  const failures: string[] = [];
  const fixes = new Set<string>();
  results.forEach((r, i) => {
    const c = list[i];
    if (r.status === 'rejected' && c) {
      failures.push(`  - ${c.name} is not available: ${reason(r.reason)}`);
      fixes.add(c.fix);
    }
  });
  if (failures.length === 0) return;
  const lines = ['Integration test prerequisites missing:', ...failures, ''];
  for (const fix of fixes) lines.push(`Fix: ${fix}`);
  if (fixes.has(START_COMMAND)) {
    lines.push(`(on a machine that never ran them, first: ${INSTALL_COMMAND})`);
  }
  throw new Error(lines.join('\n'));
}

export default async function setup(): Promise<void> {
  await runChecks();
}
