// The CLI's --type help lists the resource types of the bundle, read from it, never a hand list:
// the packaged bundle's types by default, $BUNDLE_PATH's when it is set.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { RESOURCE_TYPES } from '../support/sidecar.ts';

async function help(args: string[], env: Record<string, string> = {}): Promise<string> {
  let out = '';
  const sink = { write: (chunk: string) => ((out += chunk), true) } as unknown as NodeJS.WritableStream;
  assert.equal(await main(args, env, { stdout: sink, stderr: sink } as never), 0);
  return out;
}

test("--type lists the committed bundle's resource types, each one, in the table's order", async () => {
  assert.ok(RESOURCE_TYPES.length >= 8, RESOURCE_TYPES.join(', '));
  for (const args of [['--help'], ['audit', 'query', '--help'], ['audit', 'replay', '--help']]) {
    const text = await help(args);
    assert.match(text, new RegExp(`^ +--type ${RESOURCE_TYPES.join('\\|')}  --action `, 'm'), args.join(' '));
  }
});

test('a bundle that cannot be read leaves a placeholder, and help still answers', async () => {
  const text = await help(['audit', 'query', '--help'], { BUNDLE_PATH: '/nonexistent/bundle.tar.gz' });
  assert.match(text, /--type TYPE \(a resource type of the bundle\)/);
});
