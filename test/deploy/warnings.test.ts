// Dangerous modes say what they are: each is a warning in /v1/status (and the log), a Redis
// that keeps nothing on disk is one too, and the production profile refuses the unsafe
// modes unless PORTCULLIS_ALLOW_UNSAFE names them.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, type Config } from '../../src/config.ts';
import { RedisServer } from '../support/redis.ts';
import { serve, testConfig, testSidecar } from '../support/sidecar.ts';

async function statusWarnings(overrides: Partial<Config>): Promise<string[]> {
  const config = testConfig(overrides);
  const served = await serve(await testSidecar(overrides), config);
  try {
    const status = (await (await fetch(`${served.url}/v1/status`)).json()) as { warnings: Array<{ code: string; message: string }> };
    for (const warning of status.warnings) assert.ok(warning.message.length > 20, `${warning.code} says what it means`);
    return status.warnings.map((w) => w.code).sort();
  } finally {
    await served.close();
  }
}

test('the embedded demo settings alone: one warning', async () => {
  assert.deepEqual(await statusWarnings({}), ['demo_settings']);
});

test('dry-run, header identity, fail-open, directory off and audit off: each warned in /v1/status', async () => {
  const codes = await statusWarnings({
    gatewayDryRun: true,
    gatewayIdentity: 'headers',
    settingsFailOpen: true,
    workspaceDirectory: false,
    auditEnabled: false,
  });
  assert.deepEqual(codes, ['audit_disabled', 'demo_settings', 'gateway_dry_run', 'gateway_identity_headers', 'settings_fail_open', 'workspace_directory_off']);
});

describe('Redis persistence', () => {
  const servers: RedisServer[] = [];
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  test('neither AOF nor RDB: warned; with AOF: no warning', async () => {
    const volatile = await RedisServer.start();
    servers.push(volatile);
    assert.deepEqual(await statusWarnings({ redisUrl: volatile.url }), ['redis_not_persistent']);

    const dir = await mkdtemp(join(tmpdir(), 'portcullis-aof-'));
    dirs.push(dir);
    const durable = await RedisServer.start({ dataDir: dir });
    servers.push(durable);
    assert.deepEqual(await statusWarnings({ redisUrl: durable.url }), []);
  });
});

describe('PORTCULLIS_PROFILE=production', () => {
  const refused = (overrides: Partial<Config>, pattern: RegExp) =>
    assert.rejects(testSidecar({ profile: 'production', ...overrides }), (error: Error) => error instanceof ConfigError && pattern.test(error.message));

  test('refuses the demo settings, fail-open and dry-run, naming the mode and how to allow it', async () => {
    await refused({}, /refuses to start in the demo mode: no Redis .*PORTCULLIS_ALLOW_UNSAFE=demo to start anyway\)$/);
    await refused(
      { allowUnsafe: 'demo', settingsFailOpen: true },
      /in the fail-open mode: SETTINGS_FAIL_OPEN.*PORTCULLIS_ALLOW_UNSAFE=fail-open to start anyway\)$/,
    );
    await refused({ allowUnsafe: 'demo', gatewayDryRun: true }, /in the dry-run mode/);
  });

  test('starts when every unsafe mode it runs in is allowed, and still lists them', async () => {
    const sidecar = await testSidecar({ profile: 'production', allowUnsafe: 'demo, fail-open', settingsFailOpen: true });
    try {
      assert.deepEqual(sidecar.warnings.map((w) => w.code).sort(), ['demo_settings', 'settings_fail_open']);
    } finally {
      await sidecar.close();
    }
  });

  test('an unknown name in PORTCULLIS_ALLOW_UNSAFE is refused, in either profile', async () => {
    await refused({ allowUnsafe: 'demo,failopen' }, /PORTCULLIS_ALLOW_UNSAFE: unknown failopen; known: demo, fail-open, dry-run/);
    await assert.rejects(testSidecar({ allowUnsafe: 'everything' }), /unknown everything/);
  });
});
