import { describe, expect, it } from 'vitest';
import { KafkaAccessError, explainKafkaError } from './kafka-errors.js';

const ctx = { brokers: ['k1:9094'], tls: true, sasl: 'scram-sha-512' };
const named = (err: unknown, c = ctx) => {
  const e = explainKafkaError(err, c);
  return e instanceof KafkaAccessError ? e.accessCause : 'unexplained';
};

// Error texts as kafkajs 2.2.4 and Node 20's TLS layer report them (seen against the test broker).
describe('explainKafkaError', () => {
  it('when kafkajs reports a refused SCRAM login, then the cause is the SASL login', () => {
    const err = Object.assign(new Error('SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512'), { name: 'KafkaJSSASLAuthenticationError' });
    expect(named(err)).toBe('sasl-authentication');
    expect((explainKafkaError(err, ctx) as Error).message).toMatch(/^Kafka refused the SASL scram-sha-512 login/);
  });

  it('when the TLS layer cannot verify the broker, then the cause is an untrusted certificate', () => {
    const cause = Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    expect(named(Object.assign(new Error('Connection error: self-signed certificate in certificate chain'), { name: 'KafkaJSConnectionError', cause }))).toBe('untrusted-broker-certificate');
  });

  it('when the broker sends TLS alert 46 for our certificate, then the cause is the client certificate', () => {
    expect(named(new Error('Connection error: 80FC…:error:0A000416:SSL routines:ssl3_read_bytes:sslv3 alert certificate unknown:…:SSL alert number 46'))).toBe('client-certificate-refused');
  });

  it('when an admin request fails per resource with TOPIC_AUTHORIZATION_FAILED, then the cause is the ACL', () => {
    const err = Object.assign(new Error('Topic creation errors'), { errors: [{ type: 'TOPIC_AUTHORIZATION_FAILED', message: 'Not authorized to access topics: [Topic authorization failed]' }] });
    expect(named(err)).toBe('authorization');
  });

  it('when a plaintext client is cut off, then it is told to enable TLS; a TLS client on a plaintext port is told the opposite', () => {
    expect(named(Object.assign(new Error('Closed connection'), { name: 'KafkaJSConnectionClosedError' }), { ...ctx, tls: false, sasl: undefined as unknown as string })).toBe('not-tls');
    expect(named(new Error('Connection error: …:ssl3_get_record:wrong version number'))).toBe('tls-to-plaintext');
  });

  it('when the error is something else, then it is returned unchanged', () => {
    const err = new Error('Request Produce(key: 0, version: 7) timed out');
    expect(explainKafkaError(err, ctx)).toBe(err);
  });
});
