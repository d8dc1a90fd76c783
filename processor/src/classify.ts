/**
 * classify: why did charon reauthenticate this IKE_SA? The rules, in order (the first
 * that matches wins; docs/processor.md "Classification" lists the evidence each needs):
 *
 * 1. manual     a command asked for it: a `vici rekey`/`vici initiate`… reauth log line.
 * 2. peer       the peer initiated it: the old SA's delete came from the peer ("received
 *               DELETE for IKE_SA") or the new SA is not ours (initiator = no), and charon
 *               logged no roam or reauth line of its own.
 * 3. scheduled  charon's own "reauthenticating IKE_SA name[id]" without a roam line
 *               ("… due to address change" / "old path is not available anymore"), or no
 *               lines at all and the SA had lived its configured reauth_time.
 * 4. roam-triggered (a roam line, or no log lines but IKE_REAUTH with route/address/link/
 *    rule triggers in the attribution window):
 *    - legitimate     the old local address was removed, its link went down, the route
 *                     towards the peer was removed, or the peer's address changed;
 *    - address-moved  the new SA uses another local address;
 *    - spurious       the new SA has the same local and remote addresses: nothing changed;
 *    - legitimate / unknown when no new SA came up (with / without removal evidence).
 * 5. unknown    none of the above.
 */
import type { Classification } from './types.js';

export interface ReauthEvidence {
  roamLine: boolean;
  reauthLine: boolean;
  manualLine: boolean;
  peerDeleteLine: boolean;
  reauthTask: boolean;
  anyLogLines: boolean;
  triggerCount: number;
  /** The old local address disappeared / its link went down / the route to the peer went away. */
  removal: string | undefined;
  oldInitiator: boolean | undefined;
  newInitiator: boolean | undefined;
  /** SA lifetime at the reauth (s), when known, and the configured reauth_time (s). */
  ageS: number | undefined;
  reauthTimeS: number | undefined;
  localBefore: string | null;
  localAfter: string | null;
  remoteBefore: string | null;
  remoteAfter: string | null;
  hasNew: boolean;
}

export function classify(ev: ReauthEvidence): { classification: Classification; reason: string } {
  if (ev.manualLine) return { classification: 'manual', reason: 'a VICI command requested the reauthentication' };
  if (!ev.roamLine && !ev.reauthLine && (ev.peerDeleteLine || ev.newInitiator === false || ev.oldInitiator === false)) {
    const why = ev.peerDeleteLine ? 'the peer deleted the old IKE_SA' : 'the new IKE_SA was initiated by the peer';
    return { classification: 'peer', reason: `${why}; charon logged no reauthentication of its own` };
  }
  const roam = ev.roamLine || (!ev.anyLogLines && ev.reauthTask && ev.triggerCount > 0);
  if (!roam) {
    if (ev.reauthLine) return { classification: 'scheduled', reason: 'charon reauthenticated on its own without a roam event (reauth_time)' };
    if (ev.reauthTimeS && ev.ageS !== undefined && ev.ageS >= ev.reauthTimeS * 0.85) {
      return { classification: 'scheduled', reason: `the IKE_SA had lived ${ev.ageS}s of its reauth_time ${ev.reauthTimeS}s` };
    }
    return { classification: 'unknown', reason: 'no roam, reauth, command or peer evidence' };
  }
  const via = ev.roamLine ? 'charon reported the old path invalid after a roam event' : 'IKE_REAUTH right after routing changes';
  if (ev.removal) return { classification: 'legitimate', reason: `${via}, and ${ev.removal}` };
  if (!ev.hasNew) return { classification: 'unknown', reason: `${via}, but no new IKE_SA came up and nothing was removed` };
  if (ev.remoteBefore && ev.remoteAfter && ev.remoteBefore !== ev.remoteAfter) {
    return { classification: 'legitimate', reason: `${via}, and the peer address changed ${ev.remoteBefore} → ${ev.remoteAfter}` };
  }
  if (ev.localBefore && ev.localAfter && ev.localBefore !== ev.localAfter) {
    return { classification: 'address-moved', reason: `${via}; the new IKE_SA left ${ev.localBefore} for ${ev.localAfter}` };
  }
  return {
    classification: 'spurious',
    reason: `${via}, yet the new IKE_SA uses the same addresses (${ev.localBefore ?? '?'} → ${ev.remoteBefore ?? '?'}): nothing about the path changed`,
  };
}
