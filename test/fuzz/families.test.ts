// The fuzzer asks for the families of the bundle's table, read from policies/data.json: a
// family added to the table is fuzzed without an edit here, and no family list creeps back.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { familiesFromData } from '../../src/engine/families.ts';
import { FAMILIES } from './grammar.ts';

const table = familiesFromData(JSON.parse(readFileSync('policies/data.json', 'utf8')) as Record<string, unknown>);

test("the fuzzer's families are the table's, and the grammar names none of them itself", () => {
  assert.deepEqual([...FAMILIES], [...table.names]);
  const grammar = readFileSync(new URL('./grammar.ts', import.meta.url), 'utf8');
  const spelled = table.names.filter((name) => grammar.includes(`'${name}'`));
  assert.deepEqual(spelled, [], 'read the family from FAMILIES');
});
