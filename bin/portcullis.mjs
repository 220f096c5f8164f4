#!/usr/bin/env node
// `portcullis serve` starts the sidecar (configured by its environment, as `make run`);
// every other command is the command line of src/cli. An installed package runs the
// compiled JavaScript of dist/ and needs no TypeScript tooling; a source checkout (src/
// present) runs the TypeScript sources through tsx, so a change needs no build step.
import { existsSync } from 'node:fs';

const checkout = existsSync(new URL('../src/main.ts', import.meta.url));
if (checkout) (await import('tsx/esm/api')).register();
const module = (name) => new URL(checkout ? `../src/${name}.ts` : `../dist/${name}.js`, import.meta.url).href;

const [command, ...rest] = process.argv.slice(2);
if (command === 'serve') {
  if (rest.length > 0) {
    process.stderr.write('usage: portcullis serve   (no options: it reads its configuration from the environment and PORTCULLIS_CONFIG)\n');
    process.exit(2);
  }
  // main starts the sidecar when loaded, and keeps the process until SIGTERM or SIGINT.
  await import(module('main'));
} else {
  const { main } = await import(module('cli/main'));
  process.exitCode = await main(process.argv.slice(2), process.env);
}
