// Shared by the fault tests: bundles built by the real opa CLI from a copy of policies/,
// sidecars run as real processes, and a steady stream of decisions to keep them busy.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ADMIN_TOKEN } from '../support/sidecar.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

export const OPA = process.env.OPA_BIN ?? join(ROOT, '.cache/bin/opa');

/** A temporary directory removed when the test `t` ends (a test context, not a hook). */
export async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-faults-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface BuildOptions {
  revision: string;
  /** Rewrites authz.rego before building (a changed rule). */
  edit?: (rego: string) => string;
  signingKey?: string;
  signingAlg?: string;
}

/** The policy of a bundle built with `denyReads`: members may no longer read. */
export const denyReads = (rego: string) => rego.replace('allowing_reasons := {"org_admin", "workspace_read",', 'allowing_reasons := {"org_admin",');

/** Builds a WASM bundle from a copy of policies/ with the real opa CLI; returns its path. */
export async function buildBundle(dir: string, options: BuildOptions): Promise<string> {
  const source = await mkdtemp(join(dir, 'policy-'));
  for (const name of await readdir(join(ROOT, 'policies'))) {
    if (!name.endsWith('_test.rego')) await cp(join(ROOT, 'policies', name), join(source, name));
  }
  if (options.edit) {
    const rego = await readFile(join(source, 'authz.rego'), 'utf8');
    const edited = options.edit(rego);
    if (edited === rego) throw new Error('the edit changed nothing in authz.rego');
    await writeFile(join(source, 'authz.rego'), edited);
  }
  const out = join(dir, `bundle-${options.revision}.tar.gz`);
  const args = ['build', '-t', 'wasm', '-e', 'portkey/authz/decision', '-e', 'portkey/authz/allow', '--revision', options.revision, '-o', out];
  if (options.signingKey) args.push('-b', '--signing-key', options.signingKey, '--signing-alg', options.signingAlg ?? 'RS256');
  await run(OPA, [...args, '.'], { cwd: source });
  return out;
}

export async function putSettings(url: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${url}/v1/orgs/${path}/settings/integration-access`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Registers the workspace under the organization through the admin API. */
export async function registerWorkspace(url: string, orgId: string, workspaceId: string): Promise<void> {
  const response = await fetch(`${url}/v1/orgs/${orgId}/workspaces/${workspaceId}`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (!response.ok) throw new Error(`registering ${workspaceId} under ${orgId}: ${response.status} ${await response.text()}`);
}

export async function authorize(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/v1/authorize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * Runs `send` from `concurrency` loops until stop() is called; counts answers and failures
 * (a thrown error or a non-2xx status), handing every answer to `check`.
 */
export function load<T>(concurrency: number, send: () => Promise<T>, check: (answer: T) => void = () => undefined) {
  let running = true;
  const stats = { answered: 0, failed: 0, errors: [] as string[] };
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      try {
        check(await send());
        stats.answered++;
      } catch (error) {
        stats.failed++;
        if (stats.errors.length < 5) stats.errors.push(String(error));
      }
    }
  });
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(loops);
      return stats;
    },
  };
}
