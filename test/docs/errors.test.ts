// The error codes are written once, in src/errors.ts's ERROR_CODES: every ApiError site names
// its code from that table, docs/errors.md is generated from it, and a code that is neither
// answered nor listed cannot hide in one of the two.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.ts';
import { ERRORS_DOC, errorsDoc } from '../../tools/errors-doc.ts';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const CATALOGUE = join(SRC, 'errors.ts');

/** The TypeScript files of src/ (the console's browser JS has its own ApiError, a client of these codes). */
function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Each `new ApiError(` (and the gateway's refuse/unauthorized wrappers) with the text of its first two arguments. */
function sites(): { where: string; status: string; code: string }[] {
  return sources().flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    const found = [...text.matchAll(/new ApiError\(\s*([^,]+),\s*([^,]+),|\b(?:refuse|unauthorized)\(\s*([^,()]+),/g)];
    return found.map((match) => ({
      where: `${relative(SRC, file)}:${text.slice(0, match.index).split('\n').length}`,
      status: (match[1] ?? '').trim(),
      code: (match[2] ?? match[3] ?? '').trim(),
    }));
  });
}

test('docs/errors.md is what `make docs` writes from ERROR_CODES (run make docs and commit it)', () => {
  assert.equal(readFileSync(ERRORS_DOC, 'utf8'), errorsDoc());
});

test('no ApiError site spells its code as a string: each names CODE.x from the catalogue', () => {
  const all = sites();
  assert.ok(all.length > 40, `only ${all.length} ApiError sites found; the scan no longer sees them`);
  const literal = all.filter((site) => /^['"`]/.test(site.code));
  assert.deepEqual(
    literal.map((site) => `${site.where} ${site.code}`),
    [],
    'add the code to ERROR_CODES in src/errors.ts and use CODE.x',
  );
});

test('a literal status at an ApiError site is one the catalogue lists for its code', () => {
  const wrong = sites().flatMap((site) => {
    const code = /^CODE\.(\w+)$/.exec(site.code)?.[1] as ErrorCode | undefined;
    if (!code || !/^\d{3}$/.test(site.status)) return [];
    const statuses: readonly number[] = ERROR_CODES[code].statuses;
    return statuses.includes(Number(site.status)) ? [] : [`${site.where}: ${site.status} ${code} (catalogue: ${statuses.join(', ')})`];
  });
  assert.deepEqual(wrong, []);
});

test('every catalogue code is answered somewhere in src/ (no entry outlives its last use)', () => {
  const used = new Set(sources().flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/\bCODE\.(\w+)/g)].map((m) => m[1]!)));
  for (const code of used) assert.ok(Object.hasOwn(ERROR_CODES, code), `CODE.${code} is not in ERROR_CODES`);
  const unused = Object.keys(ERROR_CODES).filter((code) => !used.has(code));
  assert.deepEqual(unused, [], 'remove these entries from ERROR_CODES, or answer them');
  assert.ok(readFileSync(CATALOGUE, 'utf8').includes('export const ERROR_CODES'));
});

test('the page lists each code once, and says how many there are', () => {
  const doc = errorsDoc();
  const rows = doc.split('\n').filter((line) => /^\| `[a-z_]+` \|/.test(line));
  const count = Object.keys(ERROR_CODES).length;
  assert.equal(rows.length, count);
  assert.equal(new Set(rows.map((row) => row.split('|')[1])).size, count);
  assert.match(doc, new RegExp(`one of these ${count} codes`));
});
