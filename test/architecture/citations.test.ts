// The repository stands alone: no source, test, policy, example, benchmark or page cites a
// document, a spec item or an issue that is not in it. What the code relies on is written
// in docs/ in the project's own words.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOTS = ['src', 'test', 'policies', 'examples', 'bench', 'docs', 'tools', 'README.md', 'Makefile'];
// Built from parts so that this file does not cite what it looks for.
const CITATION = new RegExp(['DESIGN' + '\\.md', '\u00a7', '\\b' + 'C[0-9]+\\b', '[Ii]ssue' + ' #?[0-9]+'].join('|'));
const TEXT = /\.(ts|js|mjs|rego|json|ya?ml|md|go|css|html)$|^Makefile$/;

function files(path: string): string[] {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path, { withFileTypes: true }).flatMap((entry) =>
    entry.name === 'node_modules' || entry.name.startsWith('.')
      ? []
      : entry.isDirectory()
        ? files(join(path, entry.name))
        : TEXT.test(entry.name)
          ? [join(path, entry.name)]
          : [],
  );
}

test('nothing cites a document, spec item or issue from outside the repository', () => {
  const found = ROOTS.flatMap(files).flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, index) => (CITATION.test(line) ? [`${file}:${index + 1}: ${line.trim().slice(0, 120)}`] : [])),
  );
  assert.deepEqual(found, []);
});

test('the check finds each kind of citation', () => {
  for (const line of ['see DESIGN' + '.md', 'rule \u00a71b', 'contract C' + '2', 'fixed in iss' + 'ue 16', 'Iss' + 'ue #3']) assert.match(line, CITATION);
  assert.doesNotMatch('a C-style comment, U+0080, 16 issues, CSS', CITATION);
});
