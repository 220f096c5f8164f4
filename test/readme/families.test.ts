// The family tables the docs show are checked against the families table (policies/data.json),
// cell by cell: policies/README.md's table (families, resource types, actions, workspace
// overrides, settings and defaults) and the README's `GET /v1/families` walkthrough line.
// Adding a family is the table and its spec; a page that lags behind fails here, naming it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { familiesFromData, type WorkspaceOverrides } from '../../src/engine/families.ts';

const table = familiesFromData(JSON.parse(readFileSync('policies/data.json', 'utf8')) as Record<string, unknown>);

const OVERRIDES: Record<WorkspaceOverrides, string> = { setting: 'one toggle per setting', family: 'one toggle for the family', none: 'none' };
const code = (text: string) => `\`${text}\``;

test('policies/README.md: one row per family and setting, as the table has them, in its order', () => {
  const page = readFileSync('policies/README.md', 'utf8');
  const header = '| family (settings path) | resource types | actions | workspace overrides | setting | default | governs |';
  const lines = page.split('\n');
  const start = lines.indexOf(header);
  assert.ok(start >= 0, `the page has no table headed ${header}`);
  const rows = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  }
  const expected = table.list.flatMap((family) =>
    family.settings.map((setting, i) => [
      i === 0 ? code(family.name) : '',
      i === 0 ? family.resourceTypes.map(code).join(', ') : '',
      i === 0 ? family.actions.join(', ') : '',
      i === 0 ? OVERRIDES[family.workspaceOverrides] : '',
      code(setting.name),
      setting.default ? 'true' : '**false**',
    ]),
  );
  assert.deepEqual(
    rows.map((row) => row.slice(0, 6)),
    expected,
  );
});

test("README: the GET /v1/families walkthrough line names every family its grep selects, in the table's order", () => {
  const lines = readFileSync('README.md', 'utf8').split('\n');
  const at = lines.findIndex((line) => /^curl -s localhost:8181\/v1\/families \| grep -o /.test(line));
  assert.ok(at >= 0, 'the README has no GET /v1/families walkthrough line');
  // Family names have a dash; setting names never do.
  assert.ok(lines[at]!.includes(`grep -o '"name":"[a-z]*-[a-z-]*"'`), `the walkthrough's grep changed: ${lines[at]}`);
  const selected = table.names.filter((name) => /^[a-z]*-[a-z-]*$/.test(name));
  assert.equal(lines[at + 1], `# ${selected.map((name) => `"name":"${name}"`).join(' ')}`);
});
