// Where the package's own files are (the bundle, the example settings and routes, the
// console's browser files, Envoy's protos), found from this module rather than the working
// directory: the sidecar then runs the same from a checkout (src/, through tsx), from its
// compiled form (dist/) and from an installed package, started from any directory.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// This module is src/package.ts or dist/package.js: the package root is one level up either way.
const ROOT = new URL('../', import.meta.url);

/** The absolute path of a file of the package, given relative to the package root. */
export function packagePath(relative: string): string {
  return fileURLToPath(new URL(relative, ROOT));
}

/** The package's version, as package.json says. */
export const PACKAGE_VERSION = (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
