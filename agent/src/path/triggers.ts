/**
 * Which kernel changes make charon fire a roam event (kernel_netlink_net.c, 5.9.x:
 * process_route(), process_addr(), process_link(), process_rule(), fire_roam_event()).
 * For the processor's attribution: a route change that charon ignores cannot have caused
 * a reauth.
 *
 * - routes: only with process_route; not in the local table or charon's routing_table;
 *   not when RTA_OIF names an interface that is down or excluded; only when the route has
 *   a RTA_PREFSRC or its interface has an address of the family (else charon drops it),
 *   and that address is not a virtual IP of charon's;
 * - addresses: an address appearing, disappearing or changing flags on a usable interface
 *   that is up (IFF_UP);
 * - links: a usable interface going up or down (IFF_UP), or deleted;
 * - rules: only with process_rules; not for rules pointing at charon's routing_table.
 * All of it only with plugins.kernel-netlink.roam_events.
 */
import type { Address, Link, Route, Rule } from '@roamwatch/core';
import { ipEquals } from './ip.js';
import type { NetState } from './lookup.js';
import { isInterfaceUsable, type CharonSettings } from './settings.js';

export type KernelChange =
  | { kind: 'route'; op: 'added' | 'removed' | 'replaced'; route: Route }
  | { kind: 'address'; op: 'added' | 'removed' | 'replaced'; address: Address; old?: Address | undefined }
  | { kind: 'link'; op: 'added' | 'removed' | 'replaced'; link: Link; old?: Link | undefined }
  | { kind: 'rule'; op: 'added' | 'removed'; rule: Rule };

const up = (l: Link | undefined): boolean => l?.flags.includes('UP') ?? false;

/** Would charon fire a roam event for this change? `state` is the state after it (before, for removals of links). */
export function changeFiresRoam(change: KernelChange, state: NetState, settings: CharonSettings, virtualIps: readonly string[] = []): boolean {
  if (!settings.roamEvents) return false;
  const linkOf = (idx: number | undefined, name: string | undefined): Link | undefined =>
    state.links.find((l) => (idx !== undefined ? l.ifIndex === idx : l.ifName === name));
  switch (change.kind) {
    case 'route': {
      if (!settings.processRoute) return false;
      const r = change.route;
      if (r.table === 255 || (settings.routingTable !== 0 && r.table === settings.routingTable)) return false;
      if (r.flags?.includes('cloned')) return false;
      const hasOif = r.oifIndex !== undefined || r.oif !== undefined;
      const link = hasOif ? linkOf(r.oifIndex, r.oif) : undefined;
      if (hasOif && (!link || !up(link) || !isInterfaceUsable(settings, link.ifName))) return false;
      let host = r.prefsrc;
      if (!host && link) {
        const fam = r.family;
        host = state.addresses.find((a) => a.ifIndex === link.ifIndex && a.family === fam)?.address;
      }
      if (!host) return false;
      return !virtualIps.some((v) => ipEquals(v, host));
    }
    case 'address': {
      const link = linkOf(change.address.ifIndex, change.address.ifName);
      if (!link || !isInterfaceUsable(settings, link.ifName) || !up(link)) return false;
      if (virtualIps.includes(change.address.address)) return false;
      if (change.op === 'replaced') return JSON.stringify([...(change.old?.flags ?? [])].sort()) !== JSON.stringify([...change.address.flags].sort());
      return true;
    }
    case 'link': {
      if (!isInterfaceUsable(settings, change.link.ifName)) return false;
      if (change.op === 'removed') return true;
      if (change.op === 'added') return false; // a new link has no addresses yet
      return up(change.old) !== up(change.link);
    }
    case 'rule':
      if (!settings.processRules) return false;
      return !(settings.routingTable !== 0 && change.rule.table === settings.routingTable) && change.rule.table !== 255;
  }
}
