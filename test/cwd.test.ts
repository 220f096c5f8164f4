// The sidecar and the CLI from any working directory: `node <repo>/bin/portcullis.mjs` started
// in an empty temporary directory finds the committed bundle and the demo settings from the
// package, not from where it was started, and serves a decision.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { launchSidecar, type SidecarProcess } from './support/launch.ts';
import { decisionRequest } from './support/sidecar.ts';

const ROOT = resolve(import.meta.dirname, '..');
let dir: string;
let sidecar: SidecarProcess | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-cwd-'));
});

after(async () => {
  await sidecar?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('the sidecar started from another directory serves a decision with the committed bundle and the demo settings', async () => {
  // SETTINGS_FILE unset (empty): the default, the package's examples/settings.yaml.
  sidecar = await launchSidecar({ AUDIT_SPILL_DIR: join(dir, 'spill'), DECISION_LOGS_SPILL_DIR: '' }, { cwd: dir });
  const answer = await fetch(`${sidecar.url}/v1/authorize`, {
    method: 'POST',
    body: JSON.stringify(decisionRequest({ workspaceId: 'ws-2', workspaceRoles: { 'ws-2': 'manager' } })),
  });
  assert.equal(answer.status, 200, sidecar.output());
  const body = (await answer.json()) as { allow: boolean; source: string; bundleRevision: string };
  assert.equal(body.bundleRevision, sidecar.listening.revision);
  // ws-2 of the demo settings turns managersWriteMcpServers back on for the workspace.
  assert.deepEqual([body.allow, body.source], [true, 'workspace']);
});

test('the CLI run from another directory reads the bundle and the settings file of the package', async () => {
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
    execFile(
      process.execPath,
      [join(ROOT, 'bin/portcullis.mjs'), 'settings', 'export'],
      { cwd: dir, env: { PATH: process.env.PATH }, timeout: 60_000 },
      (error, stdout, stderr) => done({ code: error ? Number(error.code) : 0, stdout, stderr }),
    ),
  );
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^ {2}org-1:\n/m);
  assert.match(stdout, /^ {6}ws-2:\n/m);
});
