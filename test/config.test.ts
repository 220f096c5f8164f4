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

test('bad values are refused naming the environment variable the user set, or the key of the config file', () => {
  const refused = (env: Record<string, string>, message: RegExp) =>
    assert.throws(
      () => loadConfig(env),
      (e: Error) => e instanceof ConfigError && message.test(e.message),
      String(message),
    );
  refused({ PORT: 'eighty' }, /^PORT must be a non-negative integer, got "eighty"$/);
  refused({ BODY_LIMIT: 'lots' }, /^BODY_LIMIT must be a size/);
  refused({ DECIDE_AUTH: 'maybe' }, /^DECIDE_AUTH must be off or required/);
  refused({ REDIS_MIN_REPLICAS_ACK: 'x' }, /^REDIS_MIN_REPLICAS_ACK must be "auto"/);
  refused({ ACCESS_LOG: 'yes' }, /^ACCESS_LOG must be off or on/);
  const file = yamlFile('port: eighty\n');
  refused({ PORTCULLIS_CONFIG: file }, new RegExp(`^port \\(in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\) must be a non-negative integer`));
  refused({ PORTCULLIS_CONFIG: yamlFile('bodyLimit: lots\n') }, /^bodyLimit \(in .*\) must be a size/);
  // The variable set wins over the file, and is the one named.
  refused({ PORTCULLIS_CONFIG: yamlFile('decideAuth: required\n'), DECIDE_AUTH: 'sometimes' }, /^DECIDE_AUTH must be off or required/);
  refused({ PORTCULLIS_CONFIG: yamlFile('- a\n- b\n') }, /must be a YAML mapping/);
});

test('unknown keys of the config file are refused with the key meant', () => {
  const refused = (yaml: string, message: RegExp) =>
    assert.throws(
      () => loadConfig({ PORTCULLIS_CONFIG: yamlFile(yaml) }),
      (e: Error) => e instanceof ConfigError && message.test(e.message),
      String(message),
    );
  refused('prot: 80\n', /unknown setting prot; did you mean port\?/);
  refused('gatewayJwtSecrt: x\n', /unknown setting gatewayJwtSecrt; did you mean gatewayJwtSecret\?/);
  // An environment variable's name written as a key: the key it is.
  refused('REDIS_URL: redis://x\n', /unknown setting REDIS_URL; did you mean redisUrl\?/);
  refused('prot: 80\nzzzzzzzz: 1\n', /unknown setting prot; did you mean port\?; unknown setting zzzzzzzz \(/);
});

test('a REDIS_URL that cannot name a Redis is refused at start with what is wrong, the password never shown', () => {
  const refused = (url: string, message: RegExp) =>
    assert.throws(
      () => loadConfig({ REDIS_URL: url }),
      (error: unknown) => error instanceof ConfigError && message.test(error.message) && !error.message.includes('hunter2'),
    );
  refused('localhost:6379', /REDIS_URL must be a URL with a scheme.*did you mean redis:\/\/localhost:6379\?/);
  refused('http://localhost:6379', /REDIS_URL must start with redis:\/\/ or rediss:\/\/.*got http:\/\//);
  refused('redis://:hunter2@/0', /REDIS_URL (names no host|must be a URL)/);
  refused('redis://localhost:6379/cache', /database number/);
  refused('not a url', /REDIS_URL must be a URL with a scheme/);
  assert.equal(loadConfig({ REDIS_URL: 'redis://:hunter2@localhost:6379/2' }).redisUrl, 'redis://:hunter2@localhost:6379/2');
  assert.equal(loadConfig({ REDIS_URL: 'rediss://cache.example:6380' }).redisUrl, 'rediss://cache.example:6380');
});
