// A configuration shown in docs/ is the file the tests run: each fenced block right under
// `<!-- example: PATH -->` must equal PATH byte for byte, so the page cannot drift from
// what the end-to-end tests prove.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';

const MARKED_BLOCK = /<!-- example: (\S+) -->\n```[^\n]*\n([\s\S]*?)```\n/g;
const pages = (await readdir('docs')).filter((name) => name.endsWith('.md'));

/** PATH -> the text of its block, for every marked block of a page. */
async function examplesOf(page: string): Promise<Map<string, string>> {
  const text = await readFile(join('docs', page), 'utf8');
  const examples = new Map<string, string>();
  for (const [, path, block] of text.matchAll(MARKED_BLOCK)) examples.set(path!, block!);
  // A marker whose block the pattern did not take (no fence right under it) would check nothing.
  assert.equal(examples.size, text.split('<!-- example: ').length - 1, `${page}: every example marker is followed by a fenced block`);
  return examples;
}

describe('configurations shown in docs/', () => {
  test('the forward-auth page shows the nginx and Caddy configurations the end-to-end tests run', async () => {
    assert.deepEqual([...(await examplesOf('forward-auth.md')).keys()].sort(), ['examples/Caddyfile', 'examples/nginx.conf']);
  });

  for (const page of pages) {
    test(`${page}: each marked block is its file, as committed`, async () => {
      for (const [path, block] of await examplesOf(page)) assert.equal(block, await readFile(path, 'utf8'), `${page} shows ${path} differently from the file`);
    });
  }
});
