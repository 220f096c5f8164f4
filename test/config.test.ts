// The one typed configuration: YAML file, environment over it, every bad value refused by name.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';

function yamlFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'config-')), 'portcullis.yaml');
  writeFileSync(path, text);
  return path;
}

test('defaults, then the YAML file, then the environment', () => {
  const defaults = loadConfig({});
  assert.deepEqual([defaults.port, defaults.host, defaults.bodyLimitBytes], [8181, '127.0.0.1', 64 * 1024]);
  const path = yamlFile('port: 9000\nbodyLimit: 1mb\nlogLevel: debug\n');
  const fromFile = loadConfig({ PORTCULLIS_CONFIG: path });
  assert.deepEqual([fromFile.port, fromFile.bodyLimitBytes, fromFile.logLevel], [9000, 1024 * 1024, 'debug']);
  assert.equal(loadConfig({ PORTCULLIS_CONFIG: path, PORT: '9100' }).port, 9100);
});

test('an admin token is generated when none is configured, and never when one is', () => {
  const generated = loadConfig({});
  assert.equal(generated.adminTokenGenerated, true);
  assert.ok(generated.adminToken.length >= 32);
  assert.deepEqual([loadConfig({ ADMIN_TOKEN: 's3cret' }).adminToken, loadConfig({ ADMIN_TOKEN: 's3cret' }).adminTokenGenerated], ['s3cret', false]);
});

test('bad values are refused with the setting named', () => {
  assert.throws(() => loadConfig({ PORT: 'eighty' }), (e: Error) => e instanceof ConfigError && /port \(from PORT\)/.test(e.message));
  assert.throws(() => loadConfig({ BODY_LIMIT: 'lots' }), (e: Error) => e instanceof ConfigError && /bodyLimit/.test(e.message));
  assert.throws(() => loadConfig({ PORTCULLIS_CONFIG: yamlFile('prot: 80\n') }), (e: Error) => e instanceof ConfigError && /unknown settings prot/.test(e.message));
  assert.throws(() => loadConfig({ PORTCULLIS_CONFIG: yamlFile('- a\n- b\n') }), ConfigError);
});
