// Connection settings of the real test servers (Kafka, InfluxDB), read from the
// environment with defaults that match scripts/servers.sh. Integration tests import
// these instead of hard-coding hosts and ports. docs/testing.md lists the variables.
import { randomBytes } from 'node:crypto';

export interface KafkaSettings {
  /** host:port list, from ROAMWATCH_KAFKA_BROKERS (comma-separated). */
  brokers: string[];
}

/**
 * The same four settings @influxdata/influxdb-client takes for InfluxDB 2.x. Against
 * the InfluxDB 1.8 test server: the token is "username:password", or any string while
 * auth is off (as in the tests); the org is ignored; the bucket is "database/retention-policy".
 */
export interface InfluxSettings {
  url: string;
  token: string;
  org: string;
  bucket: string;
}

/**
 * The test broker's SASL_SSL listener (scripts/kafka/start.sh): TLS with the CA the script
 * made, SCRAM users whose passwords it wrote, ACLs of scripts/kafka/acls.txt.
 */
export interface SecureKafkaSettings {
  /** host:port of the SASL_SSL listener, from ROAMWATCH_KAFKA_SASL_SSL_PORT (default 9094). */
  brokers: string[];
  /** The broker's state dir: tls/ca.pem, tls/ca.key, secrets/<user>.password. */
  stateDir: string;
  caFile: string;
  /** File holding the password of a SCRAM user (roamwatch-agent, roamwatch-processor). */
  passwordFile(user: string): string;
}

/** The second InfluxDB (`influxdb-auth`), with authentication on. */
export interface InfluxAuthSettings {
  url: string;
  /** File holding the token ("roamwatch:<password>") of a user allowed to write the bucket. */
  tokenFile: string;
  org: string;
  bucket: string;
}

export interface ServerSettings {
  kafka: KafkaSettings;
  influx: InfluxSettings;
  secureKafka: SecureKafkaSettings;
  influxAuth: InfluxAuthSettings;
}

type Env = Record<string, string | undefined>;

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

/** Reads the settings from `env` (default: process.env). Pure; never throws. */
export function readServerSettings(env: Env = process.env): ServerSettings {
  const kafkaPort = nonEmpty(env['ROAMWATCH_KAFKA_PORT']) ?? '9092';
  const brokers = (nonEmpty(env['ROAMWATCH_KAFKA_BROKERS']) ?? `127.0.0.1:${kafkaPort}`)
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  const influxPort = nonEmpty(env['ROAMWATCH_INFLUX_PORT']) ?? '8086';
  const state = nonEmpty(env['ROAMWATCH_STATE']) ?? '/var/lib/roamwatch-test';
  const kafkaState = `${state}/kafka`;
  const saslPort = nonEmpty(env['ROAMWATCH_KAFKA_SASL_SSL_PORT']) ?? '9094';
  const influxAuthPort = nonEmpty(env['ROAMWATCH_INFLUX_AUTH_PORT']) ?? '8087';
  return {
    secureKafka: {
      brokers: [`127.0.0.1:${saslPort}`],
      stateDir: kafkaState,
      caFile: `${kafkaState}/tls/ca.pem`,
      passwordFile: (user: string) => `${kafkaState}/secrets/${user}.password`,
    },
    influxAuth: {
      url: `http://127.0.0.1:${influxAuthPort}`,
      tokenFile: `${state}/influxdb-auth/secrets/token`,
      org: 'roamwatch',
      bucket: nonEmpty(env['ROAMWATCH_INFLUX_BUCKET']) ?? 'roamwatch/autogen',
    },
    kafka: { brokers },
    influx: {
      url: (nonEmpty(env['ROAMWATCH_INFLUX_URL']) ?? `http://127.0.0.1:${influxPort}`).replace(/\/+$/, ''),
      token: nonEmpty(env['ROAMWATCH_INFLUX_TOKEN']) ?? 'roamwatch:roamwatch',
      org: nonEmpty(env['ROAMWATCH_INFLUX_ORG']) ?? 'roamwatch',
      bucket: nonEmpty(env['ROAMWATCH_INFLUX_BUCKET']) ?? 'roamwatch/autogen',
    },
  };
}

/** The settings of this process's environment. */
export const servers: ServerSettings = readServerSettings();

/** The command that starts every test server (what a failed check tells the user). */
export const START_COMMAND = 'npm run servers:start   (or: bash scripts/servers.sh start)';

/** The command that installs them first, on a machine that never had them. */
export const INSTALL_COMMAND = 'bash scripts/servers.sh install';

/**
 * A fresh id for one test run: use it in topic names, consumer group ids and
 * InfluxDB tags so that reruns against long-lived servers never see each other's data.
 */
export function uniqueRunId(prefix = 'run'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
