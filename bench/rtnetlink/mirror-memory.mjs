// Memory of the mirror with N IPv4 routes (default 1,000,000): /32 routes as a BGP feed
// installs them (via one of 4 gateways, proto bgp, table main), parsed from netlink bytes
// like live ones. Run with --expose-gc; prints one JSON line.
import { parseDatagram } from '../../agent/dist/rtnetlink/parse.js';
import { Mirror } from '../../agent/dist/rtnetlink/mirror.js';

const N = Number(process.argv[2] ?? 1_000_000);
const gc = globalThis.gc;
if (!gc) throw new Error('run with --expose-gc');

// One RTM_NEWROUTE: nlmsghdr(16) + rtmsg(12) + RTA_TABLE + RTA_DST + RTA_PRIORITY + RTA_GATEWAY + RTA_OIF (5 x 8).
const msg = Buffer.alloc(16 + 12 + 40);
msg.writeUInt32LE(msg.length, 0);
msg.writeUInt16LE(24, 4);
msg.set([2, 32, 0, 0, 254, 186, 0, 1], 16);
let o = 28;
const attr = (type, write) => { msg.writeUInt16LE(8, o); msg.writeUInt16LE(type, o + 2); write(o + 4); o += 8; };
attr(15, (p) => msg.writeUInt32LE(254, p));
const dstAt = o + 4;
attr(1, () => undefined);
attr(6, (p) => msg.writeUInt32LE(20, p));
const gwAt = o + 4;
attr(5, () => undefined);
attr(4, (p) => msg.writeUInt32LE(2, p));

const m = new Mirror({ changes: false });
const apply = (x) => { if (x.kind === 'route') m.applyRoute(x); };
gc(); gc();
const before = process.memoryUsage();
for (let i = 0; i < N; i++) {
  const a = (0x0b000000 + i) >>> 0;
  msg.writeUInt32BE(a, dstAt);
  msg.set([10, 9, 0, 2 + (i & 3)], gwAt);
  parseDatagram(msg, apply);
}
gc(); gc();
const after = process.memoryUsage();
const routes = m.counts().routes;
console.log(JSON.stringify({
  routes, attrRecords: m.counts().routeAttrRecords,
  rssBytesPerRoute: (after.rss - before.rss) / routes, heapBytesPerRoute: (after.heapUsed - before.heapUsed) / routes,
  rssBytes: after.rss, heapUsedBytes: after.heapUsed,
}));
