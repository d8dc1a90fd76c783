// Runs first in the compose stack (service `preflight`; every other service waits for it to
// succeed): refuses to start the stack with a missing, empty, short or placeholder secret, or
// without the Kafka TLS files. docs/security.md "The compose stack" says how to make them.
// Exit 0: all present; exit 2: what is wrong, one line each.
import fs from 'node:fs';

const dir = process.env.SECRETS_DIR ?? '/run/secrets';
const secrets = ['kafka_agent_password', 'kafka_processor_password', 'influx_admin_password', 'influx_token', 'grafana_admin_password'];
const pems = { kafka_ca_pem: /-----BEGIN CERTIFICATE-----/, kafka_broker_pem: /-----BEGIN PRIVATE KEY-----[\s\S]*-----BEGIN CERTIFICATE-----/ };
const problems = [];
const read = (name) => {
  try {
    return fs.readFileSync(`${dir}/${name}`, 'utf8');
  } catch (err) {
    problems.push(`${name}: missing (${err.code ?? err.message}); create secrets/${name.replace(/_(pem)$/, '.$1').replace(/_/g, '-')}`);
    return undefined;
  }
};
for (const name of secrets) {
  const v = read(name)?.replace(/\r?\n$/, '');
  if (v === undefined) continue;
  if (/change-?me|example|password|secret|^admin$/i.test(v)) problems.push(`${name}: is a placeholder; generate one: openssl rand -hex 32`);
  else if (v.length < 16) problems.push(`${name}: only ${v.length} characters; use at least 16 (openssl rand -hex 32)`);
}
for (const [name, re] of Object.entries(pems)) {
  const v = read(name);
  if (v !== undefined && !re.test(v)) problems.push(`${name}: not the PEM expected (make it with scripts/kafka/tls.sh)`);
}
if (problems.length) {
  process.stderr.write(`roamwatch stack: refusing to start:\n  ${problems.join('\n  ')}\nSee docs/security.md ("The compose stack").\n`);
  process.exit(2);
}
process.stdout.write('roamwatch stack: secrets and certificates present\n');
