// One error hierarchy: every library's errors are RoamwatchErrors with a bounded code, a
// retriable flag and their cause, reached through each library's own entry point.
import { describe, it, expect } from 'vitest';
import { RoamwatchError, PipelineError, ConfigError } from '@roamwatch/core/errors';
import { ViciConnectionError, ViciTruncatedError, ViciError } from '@roamwatch/agent/vici';
import { RtnetlinkConfigError, RtnetlinkHelperError, RtnetlinkSource } from '@roamwatch/agent/rtnetlink';
import { StrongswanConfError, parseStrongswanConf } from '@roamwatch/agent/path';
import { DoctorError } from '../../cli/src/commands/doctor.js';

describe('one error hierarchy', () => {
  it('when the VICI client fails, then its error is a RoamwatchError with its own code, retriable and cause', () => {
    const cause = Object.assign(new Error('connect ENOENT'), { code: 'ENOENT' });
    const e = new ViciConnectionError('unix:///run/charon.vici', 'cannot connect', { cause });
    expect(e).toBeInstanceOf(ViciError);
    expect(e).toBeInstanceOf(RoamwatchError);
    expect(e).toMatchObject({ name: 'ViciConnectionError', code: 'connection', retriable: true, cause });
    expect(new ViciTruncatedError('value', 3, 4, 1)).toMatchObject({ code: 'truncated', retriable: false });
  });

  it('when rtnetlink options are bad or the helper fails, then the errors are RoamwatchErrors (config: not retriable; helper: retriable)', () => {
    let err: unknown;
    try {
      new RtnetlinkSource({ receiveBufferBytes: 10 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RtnetlinkConfigError);
    expect(err).toBeInstanceOf(RoamwatchError);
    expect(err).toMatchObject({ name: 'RtnetlinkConfigError', code: 'RTNETLINK_CONFIG', retriable: false });
    expect(new RtnetlinkHelperError('rtnl-pipe exited', 105)).toMatchObject({ name: 'RtnetlinkHelperError', code: 'RTNETLINK_HELPER', retriable: true, errno: 105 });
  });

  it('when strongswan.conf does not parse, then StrongswanConfError is a RoamwatchError naming file and line', () => {
    let err: unknown;
    try {
      parseStrongswanConf('charon {\n a = b\n', { file: 'x.conf' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StrongswanConfError);
    expect(err).toBeInstanceOf(RoamwatchError);
    expect(err).toMatchObject({ code: 'STRONGSWAN_CONF_INVALID', retriable: false, file: 'x.conf' });
  });

  it('when doctor cannot reach charon, then DoctorError is a RoamwatchError, retriable as its cause is', () => {
    const cause = new ViciConnectionError('unix:///x', 'refused');
    expect(new DoctorError('cannot talk to charon', { cause })).toMatchObject({ name: 'DoctorError', code: 'DOCTOR_FAILED', retriable: true, cause });
    expect(new DoctorError('--swanctl-conf x does not exist')).toMatchObject({ retriable: false });
    expect(new DoctorError('x')).toBeInstanceOf(RoamwatchError);
  });

  it('when a pipeline fails or config is bad, then the core errors say whether a restart can help', () => {
    expect(new PipelineError('pipeline', new Error('boom'))).toMatchObject({ code: 'PIPELINE_FAILED', retriable: false, message: 'pipeline failed: boom' });
    expect(new ConfigError('brokers', 'at least one')).toMatchObject({ code: 'CONFIG_INVALID', retriable: false });
  });
});
