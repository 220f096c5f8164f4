// Layers run one way: the import graph of src/ against LAYERS, and the checks themselves
// shown to fail on a graph that breaks the rule.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { cycles, importGraph, layerViolations, moduleOf, type Edge } from './imports.ts';
import { LAYERS } from './layers.ts';

const SRC = new URL('../../src/', import.meta.url).pathname;
const graph = importGraph(SRC);

test('every import in src/ points down the layers', () => {
  assert.ok(graph.edges.length > 100, `only ${graph.edges.length} imports found: is the parser reading src/?`);
  assert.deepEqual(layerViolations(graph.edges, LAYERS), []);
});

test('every module of src/ has a layer, and every layer names a module that exists', () => {
  const modules = new Set(graph.files.map(moduleOf));
  const listed = LAYERS.flat();
  assert.deepEqual([...modules].filter((module) => !listed.includes(module)).sort(), [], 'modules in no layer');
  assert.deepEqual(listed.filter((module) => !modules.has(module)).sort(), [], 'layers naming no module');
});

test('src/ has no import cycle, even inside a module', () => {
  assert.deepEqual(cycles(graph.edges), []);
});

test('an import up the layers is reported, naming both files', () => {
  const edges: Edge[] = [...graph.edges, { from: 'engine/engine.ts', to: 'settings/types.ts' }];
  assert.deepEqual(layerViolations(edges, LAYERS), ['engine/engine.ts imports settings/types.ts: engine may not import settings (a higher layer)']);
});

test('an import between two modules of one layer is reported', () => {
  assert.deepEqual(layerViolations([{ from: 'http/app.ts', to: 'cli/main.ts' }], LAYERS), [
    'http/app.ts imports cli/main.ts: http may not import cli (same layer)',
  ]);
});

test('a module no layer names is reported', () => {
  assert.deepEqual(layerViolations([{ from: 'plugins/x.ts', to: 'config.ts' }], LAYERS), ['module plugins (plugins/x.ts) is in no layer']);
});

test('a cycle is found, inside a module as well as across modules', () => {
  const edges: Edge[] = [
    { from: 'a/one.ts', to: 'a/two.ts' },
    { from: 'a/two.ts', to: 'a/one.ts' },
    { from: 'b.ts', to: 'c.ts' },
    { from: 'c.ts', to: 'd.ts' },
    { from: 'd.ts', to: 'b.ts' },
  ];
  assert.deepEqual(cycles(edges), [
    ['a/one.ts', 'a/two.ts', 'a/one.ts'],
    ['b.ts', 'c.ts', 'd.ts', 'b.ts'],
  ]);
});

test('docs/architecture.md shows the same layers, top first', () => {
  const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');
  const block = /<!-- layers -->\n([\s\S]*?)<!-- \/layers -->/.exec(doc);
  assert.ok(block, 'docs/architecture.md has no <!-- layers --> block');
  const shown = block[1]!
    .split('\n')
    .filter((line) => /^\d+\. /.test(line))
    .map((line) => [...line.matchAll(/`([a-z]+)`/g)].map((match) => match[1]));
  assert.deepEqual(
    shown,
    LAYERS.map((layer) => [...layer]),
  );
});
