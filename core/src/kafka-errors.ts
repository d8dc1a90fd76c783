/**
 * Turns what kafkajs and Node's TLS layer report about a refused connection into one message
 * that names the cause and the setting to fix (`KafkaAccessError`), for every Kafka client of
 * roamwatch (agent sink, processor, replay). kafkajs wraps socket and TLS errors in
 * KafkaJSConnectionError and keeps the original as `cause` or in the message; TLS alerts the
 * broker sends come back as OpenSSL "alert number N" (RFC 8446 §6: 42 bad_certificate,
 * 45 certificate_expired, 46 certificate_unknown — what Kafka's Java TLS sends for an expired
 * client certificate —, 48 unknown_ca, 116 certificate_required).
 */
import { RoamwatchError } from './errors.js';

export type KafkaAccessCause =
  | 'sasl-authentication'
  | 'authorization'
  | 'untrusted-broker-certificate'
  | 'expired-broker-certificate'
  | 'broker-name-mismatch'
  | 'client-certificate-refused'
  | 'not-tls'
  | 'tls-to-plaintext'
  | 'unreachable';

export class KafkaAccessError extends RoamwatchError {
  readonly accessCause: KafkaAccessCause;
  constructor(accessCause: KafkaAccessCause, message: string, cause: unknown) {
    // Retriable: the sink keeps the events and retries; a fixed credential or certificate
    // (or a restart with one) lets them through.
    super(message, { code: `KAFKA_${accessCause.toUpperCase().replace(/-/g, '_')}`, retriable: true, cause });
    this.name = 'KafkaAccessError';
    this.accessCause = accessCause;
  }
}

function chain(err: unknown): Array<{ name?: string; message?: string; code?: string; type?: string }> {
  const out: Array<{ name?: string; message?: string; code?: string; type?: string }> = [];
  for (let e: unknown = err; e && typeof e === 'object' && out.length < 6; e = (e as { cause?: unknown; originalError?: unknown }).cause ?? (e as { originalError?: unknown }).originalError) {
    out.push(e as { name?: string; message?: string; code?: string; type?: string });
  }
  return out;
}

/** A KafkaAccessError when `err` is a refused connection, authentication or authorization; else `err` itself. */
export function explainKafkaError(err: unknown, ctx: { brokers: readonly string[]; tls: boolean; sasl: string | undefined }): unknown {
  if (err instanceof KafkaAccessError) return err;
  const links = chain(err);
  // Admin errors (createTopics…) carry per-resource errors in `errors`.
  const nested = links.flatMap((e) => ((e as { errors?: unknown }).errors instanceof Array ? ((e as { errors: Array<{ name?: string; code?: string; type?: string; message?: string }> }).errors) : []));
  const text = [...links, ...nested].map((e) => `${e.name ?? ''} ${e.type ?? ''} ${e.code ?? ''} ${e.message ?? ''}`).join(' | ');
  const where = ctx.brokers.join(',');
  const first = (links[0]?.message ?? String(err)).slice(0, 300);
  const mk = (c: KafkaAccessCause, msg: string) => new KafkaAccessError(c, `${msg} (${where}; kafkajs: ${first})`, err);
  if (/SASLAuthentication|SASL_AUTHENTICATION_FAILED|authentication failed/i.test(text)) {
    return mk('sasl-authentication', `Kafka refused the SASL ${ctx.sasl ?? ''} login of this user: wrong kafka.sasl.username or password (kafka.sasl.passwordFile), or the user does not exist on the brokers`);
  }
  if (/AUTHORIZATION_FAILED|Not authorized/i.test(text)) {
    return mk('authorization', 'Kafka denied this principal the operation (ACL): grant it the needed rights on the topic (docs/security.md lists them)');
  }
  if (/CERT_HAS_EXPIRED|certificate has expired/i.test(text)) {
    return mk('expired-broker-certificate', "the broker's TLS certificate has expired: renew it on the brokers");
  }
  if (/SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer/i.test(text)) {
    return mk('untrusted-broker-certificate', "the broker's TLS certificate is not signed by a trusted CA: set kafka.tls.caFile to the CA that signed it");
  }
  if (/ERR_TLS_CERT_ALTNAME_INVALID|Hostname\/IP does not match/i.test(text)) {
    return mk('broker-name-mismatch', "the broker's TLS certificate does not name the host connected to: use the name it carries, or set kafka.tls.serverName");
  }
  if (/alert number (42|45|46|48|116)|alert (bad certificate|certificate expired|certificate unknown|unknown ca|certificate required)/i.test(text)) {
    return mk('client-certificate-refused', 'the broker refused our TLS client certificate (expired, or not signed by a CA it trusts): renew kafka.tls.certFile/keyFile');
  }
  if (/wrong version number|packet length too long|EPROTO/i.test(text) && ctx.tls) {
    return mk('tls-to-plaintext', 'TLS handshake failed: this broker port does not speak TLS (a PLAINTEXT or SASL_PLAINTEXT listener?); check kafka.brokers and kafka.tls.enabled');
  }
  if (!ctx.tls && /Closed connection|ECONNRESET|socket hang up|Connection error|Request .* timed out|KafkaJSConnectionClosedError/i.test(text)) {
    return mk('not-tls', 'the broker closed the connection: if this port is a SSL or SASL_SSL listener, enable kafka.tls (and kafka.sasl); a plaintext client cannot talk to it');
  }
  return err;
}
