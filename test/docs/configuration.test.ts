// docs/configuration.md is generated from src/config.ts's FIELDS: it cannot go stale.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FIELDS } from '../../src/config.ts';
import { CONFIGURATION_DOC, configurationDoc } from '../../tools/config-doc.ts';

test('docs/configuration.md is what `make docs` writes from FIELDS (run make docs and commit it)', () => {
  assert.equal(readFileSync(CONFIGURATION_DOC, 'utf8'), configurationDoc());
});

test('the page has one row per setting, naming its variable', () => {
  const doc = configurationDoc();
  for (const field of Object.values(FIELDS)) assert.match(doc, new RegExp(`^\\| \`${field.env}\` \\|`, 'm'));
  assert.equal(doc.split('\n').filter((line) => /^\| `[A-Z]/.test(line)).length, Object.keys(FIELDS).length);
});
