// How many worker processes WORKERS asks for: a number, or `auto` = the cores this process
// may use — its CPU affinity (os.availableParallelism) bounded by the cgroup v2 CPU quota,
// which a container's CPU limit sets and which affinity does not show.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ConfigError, settingName } from '../config.ts';

/** More is a typo, not a deployment: each worker holds a WASM instance and Redis connections. */
export const MAX_WORKERS = 128;

export interface CgroupPaths {
  /** The cgroup v2 mount (`/sys/fs/cgroup`). */
  root: string;
  /** This process's cgroup membership (`/proc/self/cgroup`). */
  membership: string;
}

const SYSTEM: CgroupPaths = { root: '/sys/fs/cgroup', membership: '/proc/self/cgroup' };

export function workerCount(setting: string, cgroup: CgroupPaths = SYSTEM): number {
  const value = setting.trim();
  if (value === 'auto') return usableCores(cgroup);
  const count = /^\d+$/.test(value) ? Number(value) : NaN;
  if (count >= 1 && count <= MAX_WORKERS) return count;
  throw new ConfigError(`${settingName('workers')} must be a number from 1 to ${MAX_WORKERS} or auto, got ${JSON.stringify(setting)}`);
}

/** The cores this process may run on, as whole cores of its CPU quota. */
export function usableCores(cgroup: CgroupPaths = SYSTEM): number {
  const quota = cgroupQuotaCores(cgroup);
  return Math.max(1, Math.min(availableParallelism(), quota ?? Infinity));
}

/**
 * The tightest `cpu.max` quota on the way from this process's cgroup up to the root, in
 * whole cores (rounded down, at least 1: a 1.5-core quota runs two busy workers throttled);
 * undefined when there is no cgroup v2 or no quota.
 */
export function cgroupQuotaCores(cgroup: CgroupPaths): number | undefined {
  // cgroup v2 membership is the one line "0::<path>"; in a container with its own cgroup
  // namespace the path is "/" and the limit is on the mount's own cpu.max.
  const line = readText(cgroup.membership)
    ?.split('\n')
    .find((l) => l.startsWith('0::'));
  let path = line ? line.slice(3).trim() : '/';
  let tightest: number | undefined;
  for (;;) {
    const cores = parseCpuMax(readText(join(cgroup.root, path, 'cpu.max')));
    if (cores !== undefined) tightest = Math.min(tightest ?? Infinity, cores);
    if (path === '/' || path === '') break;
    path = path.slice(0, path.lastIndexOf('/')) || '/';
  }
  return tightest === undefined ? undefined : Math.max(1, Math.floor(tightest));
}

/** "<quota µs> <period µs>" → cores (fractional); "max <period>" (no limit) or unreadable → undefined. */
function parseCpuMax(text: string | undefined): number | undefined {
  const [quota, period] = (text ?? '').trim().split(/\s+/);
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 ? q / p : undefined;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
