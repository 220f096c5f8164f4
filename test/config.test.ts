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

test('a REDIS_URL that cannot name a Redis is refused at start with what is wrong, the password never shown', () => {
  const refused = (url: string, message: RegExp) =>
    assert.throws(() => loadConfig({ REDIS_URL: url }), (error: unknown) => error instanceof ConfigError && message.test(error.message) && !error.message.includes('hunter2'));
  refused('localhost:6379', /REDIS_URL must be a URL with a scheme.*did you mean redis:\/\/localhost:6379\?/);
  refused('http://localhost:6379', /REDIS_URL must start with redis:\/\/ or rediss:\/\/.*got http:\/\//);
  refused('redis://:hunter2@/0', /REDIS_URL (names no host|must be a URL)/);
  refused('redis://localhost:6379/cache', /database number/);
  refused('not a url', /REDIS_URL must be a URL with a scheme/);
  assert.equal(loadConfig({ REDIS_URL: 'redis://:hunter2@localhost:6379/2' }).redisUrl, 'redis://:hunter2@localhost:6379/2');
  assert.equal(loadConfig({ REDIS_URL: 'rediss://cache.example:6380' }).redisUrl, 'rediss://cache.example:6380');
});
