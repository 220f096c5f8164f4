// docs/openapi.json: the OpenAPI document for the committed bundle (bundles/portkey.tar.gz),
// as GET /v1/openapi.json serves it. `make openapi` writes it; the contract test fails when
// it is stale.
import { readFile, writeFile } from 'node:fs/promises';
import { readBundleFile } from '../../src/engine/bundle.ts';
import { openApiDocument } from '../../src/http/openapi.ts';
import { familiesFromData } from '../../src/engine/families.ts';

export const OPENAPI_FILE = 'docs/openapi.json';

export async function committedDocument(): Promise<string> {
  const bundle = await readBundleFile('bundles/portkey.tar.gz');
  return `${JSON.stringify(openApiDocument(familiesFromData(bundle.data), bundle.manifest.revision), null, 2)}\n`;
}

export async function writtenDocument(): Promise<string> {
  return readFile(OPENAPI_FILE, 'utf8');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await writeFile(OPENAPI_FILE, await committedDocument());
  console.log(`wrote ${OPENAPI_FILE}`);
}
