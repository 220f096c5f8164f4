// The listeners, as real processes: with ADMIN_PORT the decision port serves decisions,
// the OPA API, gateways and health only, and the admin port the admin API, console, status
// and metrics; TLS on a listener from certificate files, reloaded when they change.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { X509Certificate as X509 } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { stopProcess } from '../support/launch.ts';
import { freePort } from '../support/redis.ts';
import { ADMIN_TOKEN, decisionRequest } from '../support/sidecar.ts';
import { certificates } from '../support/tls.ts';

/** `node src/main.ts` with env; resolves once `readyUrl` answers (any status). */
async function sidecarProcess(env: Record<string, string>, ready: () => Promise<boolean>): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH, GRPC_PORT: '0', ADMIN_TOKEN, LOG_LEVEL: 'info', LOG_FORMAT: 'json', SETTINGS_FILE: '', AUDIT_SPILL_DIR: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sidecar exited (${child.exitCode}):\n${output}`);
    if (await ready().catch(() => false)) return { child, output: () => output };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sidecar not serving after 60 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('ADMIN_PORT: two listeners', () => {
  let child: ChildProcess | undefined;
  let decisions: string;
  let admin: string;
  before(async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    decisions = `http://127.0.0.1:${port}`;
    admin = `http://127.0.0.1:${adminPort}`;
    ({ child } = await sidecarProcess(
      { PORT: String(port), ADMIN_PORT: String(adminPort) },
      async () => (await fetch(`${admin}/health`)).ok && (await fetch(`${decisions}/health`)).ok,
    ));
  });
  after(async () => {
    if (child) await stopProcess(child);
  });

  const get = (url: string) => fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

  test('the decision port decides and answers health, and serves nothing of the admin surface', async () => {
    const decided = await fetch(`${decisions}/v1/authorize`, { method: 'POST', body: JSON.stringify(decisionRequest()) });
    assert.equal(decided.status, 200);
    // org-1 of the demo settings turns managersWriteMcpServers off.
    assert.equal(((await decided.json()) as { reason: string }).reason, 'manager_write_disabled');
    const opa = await fetch(`${decisions}/v1/data/portkey/authz/allow`, { method: 'POST', body: JSON.stringify({ input: decisionRequest() }) });
    assert.equal(opa.status, 200);
    assert.equal((await get(`${decisions}/health/ready`)).status, 200);
    for (const path of [
      '/metrics',
      '/v1/status',
      '/v1/orgs/org-1/settings/integration-access',
      '/v1/audit/decisions?orgId=org-1',
      '/console/',
      '/v1/families',
    ]) {
      assert.equal((await get(`${decisions}${path}`)).status, 404, path);
    }
  });

  test('the admin port serves the admin API, console, status and metrics, and decides nothing', async () => {
    assert.equal((await get(`${admin}/v1/orgs/org-1/settings/integration-access`)).status, 200);
    assert.equal((await get(`${admin}/console/`)).status, 200);
    assert.match(await (await get(`${admin}/metrics`)).text(), /^# HELP /m);
    const status = (await (await get(`${admin}/v1/status`)).json()) as { warnings: Array<{ code: string }> };
    assert.deepEqual(
      status.warnings.map((w) => w.code),
      ['demo_settings'],
    );
    assert.equal((await get(`${admin}/health`)).status, 200);
    const decided = await fetch(`${admin}/v1/authorize`, { method: 'POST', body: JSON.stringify(decisionRequest()) });
    assert.equal(decided.status, 404);
  });
});

/** One HTTPS request on a new connection, trusting only `ca`: the status and the serial of the certificate served. */
function httpsGet(url: string, ca: Buffer): Promise<{ status: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false, timeout: 10_000 }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, serial }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('TLS on the decision listener, from files that are re-read when they change', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  after(async () => {
    if (child) await stopProcess(child);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('serves HTTPS with the certificate of the files, then with the renewed one', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-listener-tls-'));
    const first = await certificates(dir, 'first');
    const served = { certFile: join(dir, 'served.crt'), keyFile: join(dir, 'served.key') };
    await copyFile(first.certFile, served.certFile);
    await copyFile(first.keyFile, served.keyFile);
    const ca = readFileSync(first.caFile);
    const port = await freePort();
    const url = `https://127.0.0.1:${port}/health`;
    ({ child } = await sidecarProcess(
      { PORT: String(port), TLS_CERT_FILE: served.certFile, TLS_KEY_FILE: served.keyFile, TLS_RELOAD_MS: '100' },
      async () => (await httpsGet(url, ca)).status === 200,
    ));
    const before = await httpsGet(url, ca);
    assert.equal(before.status, 200);
    const plain = await fetch(`http://127.0.0.1:${port}/health`).then(
      () => 'answered',
      () => 'refused',
    );
    assert.equal(plain, 'refused');

    const second = await certificates(dir, 'second');
    await copyFile(second.keyFile, served.keyFile);
    await copyFile(second.certFile, served.certFile);
    const deadline = Date.now() + 60_000;
    let after = before;
    while (after.serial === before.serial) {
      assert.ok(Date.now() < deadline, 'the renewed certificate was not served within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 200));
      after = await httpsGet(url, ca);
    }
    assert.equal(after.status, 200);
    assert.equal(after.serial, new X509(readFileSync(second.certFile)).serialNumber);
  });
});

test('configuration: the TLS files go in pairs, ADMIN_PORT differs from PORT, the profile is one of two', () => {
  const refused = (env: Record<string, string>, pattern: RegExp) =>
    assert.throws(
      () => loadConfig({ ADMIN_TOKEN, ...env }),
      (e: Error) => e instanceof ConfigError && pattern.test(e.message),
    );
  refused({ TLS_CERT_FILE: '/x.crt' }, /TLS_CERT_FILE and TLS_KEY_FILE go together/);
  refused({ ADMIN_PORT: '9000', ADMIN_TLS_KEY_FILE: '/x.key' }, /ADMIN_TLS_CERT_FILE and ADMIN_TLS_KEY_FILE go together/);
  refused({ PORT: '9000', ADMIN_PORT: '9000' }, /ADMIN_PORT must differ from PORT/);
  refused({ ADMIN_TLS_CERT_FILE: '/x.crt', ADMIN_TLS_KEY_FILE: '/x.key' }, /ADMIN_TLS_CERT_FILE needs ADMIN_PORT/);
  refused({ PORTCULLIS_PROFILE: 'prod' }, /PORTCULLIS_PROFILE must be development or production, got "prod"/);
});
