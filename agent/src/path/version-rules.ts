/**
 * The version-specific rules of the path analyzer: where charon's roam() or its route
 * lookup behave differently between strongSwan versions, and which of them decided a
 * verdict. `roamwatch doctor` shows the rule of each verdict next to the charon version,
 * and docs/path-analysis.md tabulates them per version.
 *
 * Each rule cites the strongSwan source it follows (line numbers of 6.0.6, whose source the
 * lab builds; the 5.9.8 lines are the same functions) and, where a NEWS entry dates it,
 * the version that introduced it. Every rule that the lab can exercise is checked on both
 * 5.9.8 and 6.0.6 by test/integration/path-matrix.test.ts.
 */
import type { CharonSettings, CharonVersion } from './settings.js';
import { versionAtLeast } from './settings.js';

export type VersionRuleId =
  | 'common'
  | 'ikev1-ignored'
  | 'ikev1-before-5.6.3'
  | 'static-path-kept'
  | 'rta-src'
  | 'make-before-break-default'
  | 'break-before-make-default'
  | 'make-before-break-configured';

export interface VersionRule {
  id: VersionRuleId;
  /** The charon versions the rule holds for, e.g. '>= 5.6.3', '< 6.0.0', 'all'. */
  versions: string;
  /** What charon does under this rule. */
  summary: string;
  /** The strongSwan source (and NEWS entry) it follows. */
  source: string;
}

export const VERSION_RULES: Record<VersionRuleId, VersionRule> = {
  common: {
    id: 'common',
    versions: 'all (5.5.2 … 6.0.6)',
    summary: 'the verdict follows roam() and get_route() as they are in every modelled version',
    source: 'ike_sa.c roam() (6.0.6: line 2750), kernel_netlink_net.c get_route() (6.0.6: line 1816); same logic in 5.9.8',
  },
  'ikev1-ignored': {
    id: 'ikev1-ignored',
    versions: '>= 5.6.3',
    summary: 'roam events are ignored for IKEv1 SAs (no MOBIKE, a reauth would not be enough)',
    source: 'ike_sa.c roam(): "if (this->version == IKEV1) return SUCCESS" (6.0.6: line 2770); NEWS 5.6.3 "Roam events are now completely ignored for IKEv1 SAs"',
  },
  'ikev1-before-5.6.3': {
    id: 'ikev1-before-5.6.3',
    versions: '< 5.6.3',
    summary: 'before 5.6.3 roam events were not completely ignored for IKEv1 SAs; roamwatch does not model that version',
    source: 'NEWS 5.6.3',
  },
  'static-path-kept': {
    id: 'static-path-kept',
    versions: '>= 5.5.2',
    summary: 'without MOBIKE, a local address written literally in local_addrs is kept without a route check',
    source: 'ike_sa.c roam(): ike_cfg_has_address() → "keeping statically configured path" (6.0.6: line 2778)',
  },
  'rta-src': {
    id: 'rta-src',
    versions: '>= 5.5.1',
    summary: 'a route with a source prefix (RTA_SRC, `from`) leads to the local addresses inside it',
    source: 'kernel_netlink_net.c get_route(): get_subnet_address() (6.0.6: line 2006)',
  },
  'make-before-break-default': {
    id: 'make-before-break-default',
    versions: '>= 6.0.0',
    summary: 'charon.make_before_break defaults to yes: the reauth brings the new IKE_SA and CHILD_SAs up before the old ones are deleted',
    source: 'ikev2/task_manager_v2.c: "%s.make_before_break" read with default TRUE (6.0.6: line 2651), used by queue_ike_reauth() (line 2274); NEWS 6.0.0 "charon.make_before_break is now enabled by default"',
  },
  'break-before-make-default': {
    id: 'break-before-make-default',
    versions: '< 6.0.0',
    summary: 'charon.make_before_break defaults to no: the reauth deletes the old IKE_SA and CHILD_SAs before the new ones are up',
    source: 'ikev2/task_manager_v2.c: "%s.make_before_break" read with default FALSE before 6.0.0 (NEWS 6.0.0), used by queue_ike_reauth()',
  },
  'make-before-break-configured': {
    id: 'make-before-break-configured',
    versions: 'all (>= 5.3.0, where the option exists)',
    summary: 'charon.make_before_break is set in strongswan.conf, so the version default does not matter',
    source: 'ikev2/task_manager_v2.c task_manager_v2_create() reads "%s.make_before_break" (6.0.6: line 2651)',
  },
};

/** What an analysis needs to know to name its deciding rule. */
export interface RuleInput {
  verdict: string;
  reasonCode: string;
  consequence: string | undefined;
}

/**
 * The version-specific rule that decided this verdict, or `common` when every modelled
 * version decides the same way.
 */
export function decidingRule(a: RuleInput, settings: CharonSettings, version: CharonVersion): VersionRule {
  switch (a.reasonCode) {
    case 'ikev1':
      return VERSION_RULES['ikev1-ignored'];
    case 'ikev1-before-5.6.3':
      return VERSION_RULES['ikev1-before-5.6.3'];
    case 'static-local-address':
      return VERSION_RULES['static-path-kept'];
    case 'route-with-rta-src':
      return VERSION_RULES['rta-src'];
    default:
      break;
  }
  if (a.verdict === 'at-risk' && a.consequence === 'reauth') {
    if (settings.origins['charon.make_before_break'] !== undefined && settings.origins['charon.make_before_break'] !== 'default') {
      return VERSION_RULES['make-before-break-configured'];
    }
    return versionAtLeast(version, 6, 0, 0) ? VERSION_RULES['make-before-break-default'] : VERSION_RULES['break-before-make-default'];
  }
  return VERSION_RULES.common;
}
