// Machine stamp for benchmark results: every committed result names where and when it ran.
import os from 'node:os';
import { readFileSync } from 'node:fs';

export function machineStamp() {
  const cpus = os.cpus();
  let kernel = os.release();
  try { kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(); } catch { /* keep os.release() */ }
  return {
    date: new Date().toISOString(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel,
    node: process.version,
    platform: `${os.platform()}-${os.arch()}`,
  };
}

export function machineMarkdown(stamp = machineStamp()) {
  return `Machine: ${stamp.cpuModel}, ${stamp.cores} cores, ${stamp.memoryGiB} GiB, Linux ${stamp.kernel}, Node ${stamp.node}. Date: ${stamp.date}.`;
}
