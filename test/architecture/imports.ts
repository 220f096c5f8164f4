// The import graph of src/ and the checks the layering test makes on it: which module a
// file belongs to, the edges that run against the layer order, and the cycles.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export interface Edge {
  /** Files relative to src/, e.g. "decision/decider.ts". */
  from: string;
  to: string;
}

/** The module a file of src/ belongs to: its top folder, or its own name for a file at the top. */
export function moduleOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.ts$/, '');
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every relative import (static, dynamic, type-only and re-exports) between the .ts files under srcDir. */
export function importGraph(srcDir: string): { files: string[]; edges: Edge[] } {
  const root = resolve(srcDir);
  const files = sourceFiles(root);
  const edges: Edge[] = [];
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = resolve(dirname(file), fileName);
      edges.push({ from: relative(root, file).split(sep).join('/'), to: relative(root, target).split(sep).join('/') });
    }
  }
  return { files: files.map((file) => relative(root, file).split(sep).join('/')), edges };
}

/** Where each module sits: 0 is the top. Throws for a module named twice. */
function ranks(layers: readonly (readonly string[])[]): Map<string, number> {
  const rank = new Map<string, number>();
  layers.forEach((layer, index) => {
    for (const module of layer) {
      if (rank.has(module)) throw new Error(`module ${module} is in two layers`);
      rank.set(module, index);
    }
  });
  return rank;
}

/**
 * The problems of a graph under a layer order, one sentence each: a module no layer names,
 * and an import from one module to another that is not in a lower layer (modules of the
 * same layer do not import each other).
 */
export function layerViolations(edges: readonly Edge[], layers: readonly (readonly string[])[]): string[] {
  const rank = ranks(layers);
  const problems = new Set<string>();
  for (const { from, to } of edges) {
    const a = moduleOf(from);
    const b = moduleOf(to);
    for (const module of [a, b]) if (!rank.has(module)) problems.add(`module ${module} (${module === a ? from : to}) is in no layer`);
    if (a === b || !rank.has(a) || !rank.has(b)) continue;
    if (rank.get(b)! <= rank.get(a)!)
      problems.add(`${from} imports ${to}: ${a} may not import ${b} (${rank.get(b) === rank.get(a) ? 'same layer' : 'a higher layer'})`);
  }
  return [...problems];
}

/** The cycles of the file graph, each as the files around it (first file repeated at the end). */
export function cycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const state = new Map<string, 'open' | 'done'>();
  const found: string[][] = [];
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const to of next.get(file) ?? []) {
      if (state.get(to) === 'open') found.push([...path.slice(path.indexOf(to)), to]);
      else if (!state.has(to)) visit(to);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of [...next.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}
