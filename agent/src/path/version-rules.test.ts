import { describe, expect, it } from 'vitest';
import { analyze } from './analyze.js';
import { conn, gateway, LOCAL4, PEER4, route, sa } from './fixtures.js';
import { defaultCharonSettings, resolveCharonSettings } from './settings.js';
import { parseStrongswanConf } from './strongswan-conf.js';
import { VERSION_RULES } from './version-rules.js';

const viaGw = route('0.0.0.0/0', { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2 });
const s = (v: string) => defaultCharonSettings({ charonVersion: v });

describe('the version-specific rule that decided a verdict', () => {
  it('when an at-risk initiator reauthenticates on 5.9.8, then break-before-make (the < 6.0 default) decided; on 6.0.6, make-before-break', () => {
    const old = analyze(gateway([viaGw]), sa(), conn(), s('5.9.8'), '5.9.8');
    expect(old).toMatchObject({ verdict: 'at-risk', consequence: 'reauth', rule: { id: 'break-before-make-default', versions: '< 6.0.0' } });
    const neu = analyze(gateway([viaGw]), sa(), conn(), s('6.0.6'), '6.0.6');
    expect(neu).toMatchObject({ verdict: 'at-risk', consequence: 'reauth', rule: { id: 'make-before-break-default', versions: '>= 6.0.0' } });
    expect(neu.reason).toContain('make-before-break');
  });

  it('when make_before_break is set in strongswan.conf, then the setting decided, whatever the version', () => {
    const conf = resolveCharonSettings(parseStrongswanConf('charon { make_before_break = no }'), { charonVersion: '6.0.6' });
    const a = analyze(gateway([viaGw]), sa(), conn(), conf, '6.0.6');
    expect(a.rule.id).toBe('make-before-break-configured');
    expect(a.reason).toContain('break-before-make');
  });

  it('when the SA is IKEv1, then it is immune since 5.6.3 (ikev1-ignored) on 5.9.8 and 6.0.6, and unknown before', () => {
    for (const v of ['5.9.8', '6.0.6', '5.6.3']) {
      const a = analyze(gateway([viaGw]), sa({ version: 1 }), conn(), s(v), v);
      expect(a).toMatchObject({ verdict: 'immune', reasonCode: 'ikev1', consequence: 'none', rule: { id: 'ikev1-ignored', versions: '>= 5.6.3' } });
    }
    const older = analyze(gateway([viaGw]), sa({ version: 1 }), conn(), s('5.6.2'), '5.6.2');
    expect(older).toMatchObject({ verdict: 'unknown', reasonCode: 'ikev1-before-5.6.3', rule: { id: 'ikev1-before-5.6.3' } });
  });

  it('when local_addrs is literal, then static-path-kept decided (5.5.2+); before 5.5.2 the route check runs', () => {
    const literal = conn([LOCAL4]);
    expect(analyze(gateway([viaGw]), sa(), literal, s('6.0.6'), '6.0.6').rule.id).toBe('static-path-kept');
    expect(analyze(gateway([viaGw]), sa(), literal, s('5.5.1'), '5.5.1').rule.id).toBe('break-before-make-default');
  });

  it('when a source prefix (from) keeps the path, then rta-src decided', () => {
    const st = gateway([viaGw, route(`${PEER4}/32`, { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, src: '192.0.2.0/24' })]);
    const a = analyze(st, sa(), conn(), s('6.0.6'), '6.0.6');
    expect(a).toMatchObject({ verdict: 'valid', reasonCode: 'route-with-rta-src', rule: { id: 'rta-src' } });
  });

  it('when a src route keeps the path, then no version-specific rule decided (common)', () => {
    const st = gateway([viaGw, route(`${PEER4}/32`, { gateway: '10.0.0.254', oif: 'eth0', oifIndex: 2, prefsrc: LOCAL4 })]);
    for (const v of ['5.9.8', '6.0.6']) expect(analyze(st, sa(), conn(), s(v), v).rule).toEqual(VERSION_RULES.common);
  });

  it('when the rules are listed, then each cites its strongSwan source', () => {
    for (const r of Object.values(VERSION_RULES)) expect(r.source).toMatch(/\.c |NEWS/);
  });
});

describe('an SA whose local address is on no interface', () => {
  const noLocal = () => {
    const st = gateway([viaGw]);
    return { ...st, addresses: st.addresses.filter((a) => a.address !== LOCAL4) };
  };

  it('when charon is 6.0.6 (make-before-break), then the SA is at risk as stranded: ESTABLISHED on the missing address, no route fix', () => {
    const a = analyze(noLocal(), sa(), conn(), s('6.0.6'), '6.0.6');
    expect(a).toMatchObject({ verdict: 'at-risk', reasonCode: 'local-address-missing', consequence: 'reauth', fixes: [], rule: { id: 'make-before-break-default' } });
    expect(a.reason).toContain('keeps this IKE_SA ESTABLISHED on the missing address');
  });

  it('when charon is 5.9.8 (break-before-make), then the reauth deletes the SA and the tunnel is down', () => {
    const a = analyze(noLocal(), sa(), conn(), s('5.9.8'), '5.9.8');
    expect(a).toMatchObject({ verdict: 'at-risk', reasonCode: 'local-address-missing', fixes: [], rule: { id: 'break-before-make-default' } });
    expect(a.reason).toContain('deletes this IKE_SA and cannot send the new one');
  });

  it('when local_addrs is literal (no route check), then it stays immune on both versions', () => {
    for (const v of ['5.9.8', '6.0.6']) expect(analyze(noLocal(), sa(), conn([LOCAL4]), s(v), v).reasonCode).toBe('static-local-address');
  });
});
