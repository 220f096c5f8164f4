// The README's list of reasons is the policy's: the codes GET /v1/reasons serves from the
// committed bundle's messages entrypoint, no more and no fewer.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import request from 'supertest';
import { testSidecar } from '../support/sidecar.ts';

test('the README lists exactly the reasons GET /v1/reasons serves', async () => {
  const readme = await readFile('README.md', 'utf8');
  const block = /<!-- reasons -->\n([\s\S]*?)<!-- \/reasons -->/.exec(readme);
  assert.ok(block, 'README.md has no <!-- reasons --> block');
  const listed = [...block[1]!.matchAll(/`([a-z_]+)`/g)].map((match) => match[1]!);
  assert.equal(new Set(listed).size, listed.length, `a reason listed twice: ${listed.join(', ')}`);
  const sidecar = await testSidecar();
  try {
    const res = await request(sidecar.app).get('/v1/reasons').expect(200);
    assert.deepEqual(listed.sort(), Object.keys(res.body.reasons as object).sort());
  } finally {
    await sidecar.close();
  }
});
