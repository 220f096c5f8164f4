// The policy's entrypoints are written once, as `entrypoint: true` in the rules' METADATA:
// the committed bundle has exactly those, the engine and the HTTP API name only those, and
// policies/README.md lists them.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { readBundle } from '../../src/engine/bundle.ts';
import { DECISION_ENTRYPOINT, MESSAGES_ENTRYPOINT, PolicyEngine } from '../../src/engine/engine.ts';
import { EFFECTIVE_SETTINGS_ENTRYPOINT } from '../../src/http/families.ts';

/** `<package path>/<rule>` of every rule annotated `entrypoint: true` in policies/*.rego (tests excluded). */
export function annotatedEntrypoints(dir = 'policies'): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).filter((file) => file.endsWith('.rego') && !file.endsWith('_test.rego'))) {
    const text = readFileSync(`${dir}/${name}`, 'utf8');
    const pkg = /^package ([\w.]+)/m.exec(text)?.[1]?.replace(/\./g, '/');
    for (const [, rule] of text.matchAll(/^# entrypoint: true\n(?:#.*\n)*(?:default )?([a-z_][a-z0-9_]*)\b/gm)) found.push(`${pkg}/${rule}`);
  }
  return found.sort();
}

const declared = annotatedEntrypoints();

test('the committed bundle has exactly the entrypoints the METADATA declares', async () => {
  assert.ok(declared.length >= 4, declared.join(', '));
  const engine = await PolicyEngine.load(await readBundle(readFileSync('bundles/portkey.tar.gz')));
  assert.deepEqual([...engine.entrypoints].sort(), declared);
});

test('every entrypoint the sidecar evaluates is declared', () => {
  for (const entrypoint of [DECISION_ENTRYPOINT, MESSAGES_ENTRYPOINT, EFFECTIVE_SETTINGS_ENTRYPOINT]) assert.ok(declared.includes(entrypoint), entrypoint);
});

test('policies/README.md lists the declared entrypoints', () => {
  const readme = readFileSync('policies/README.md', 'utf8');
  const listed = [...readme.matchAll(/^\| `(portkey\/[\w/]+)` \|/gm)].map((match) => match[1]).sort();
  assert.deepEqual(listed, declared);
});

test('the Makefile names no entrypoint of its own', () => {
  assert.doesNotMatch(readFileSync('Makefile', 'utf8'), /-e portkey\//);
});
