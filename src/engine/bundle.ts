// Reading an OPA bundle (a gzipped tar: .manifest, data.json, policy.wasm, sources)
// into memory. Nothing is written to disk; sizes are bounded so that a hostile
// bundle cannot exhaust memory.
import { readFile } from 'node:fs/promises';
import { Parser, type ReadEntry } from 'tar';

export const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

export interface BundleManifest {
  revision: string;
  roots?: string[];
  wasm?: Array<{ entrypoint: string; module: string }>;
}

export interface Bundle {
  manifest: BundleManifest;
  /** The module named by the manifest's wasm entries (OPA writes /policy.wasm). */
  wasm: Buffer;
  data: Record<string, unknown>;
  /** Every file by its path without the leading slash, for signature verification. */
  files: Map<string, Buffer>;
}

export class BundleError extends Error {
  override name = 'BundleError';
}

export async function readBundleFile(path: string): Promise<Bundle> {
  return readBundle(await readFile(path));
}

export async function readBundle(archive: Buffer): Promise<Bundle> {
  const files = await untar(archive);
  const manifestBytes = files.get('.manifest');
  if (!manifestBytes) throw new BundleError('bundle has no .manifest');
  const manifest = parseJsonFile<BundleManifest>(manifestBytes, '.manifest');
  if (typeof manifest.revision !== 'string') throw new BundleError('.manifest has no revision');
  const modules = new Set((manifest.wasm ?? []).map((w) => w.module.replace(/^\//, '')));
  if (modules.size !== 1) throw new BundleError(`bundle must hold exactly one wasm module, found ${modules.size}`);
  const [modulePath] = modules;
  const wasm = files.get(modulePath!);
  if (!wasm) throw new BundleError(`.manifest names ${modulePath} but the bundle does not contain it`);
  const dataBytes = files.get('data.json');
  const data = dataBytes ? parseJsonFile<Record<string, unknown>>(dataBytes, 'data.json') : {};
  return { manifest, wasm, data, files };
}

function parseJsonFile<T>(bytes: Buffer, name: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (error) {
    throw new BundleError(`${name} is not valid JSON: ${(error as Error).message}`);
  }
}

function untar(archive: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    const files = new Map<string, Buffer>();
    let total = 0;
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > MAX_BUNDLE_BYTES) parser.abort(new BundleError(`bundle is larger than ${MAX_BUNDLE_BYTES} bytes`));
          chunks.push(chunk);
        });
        entry.on('end', () => {
          if (entry.type === 'File') files.set(entry.path.replace(/^\/+/, ''), Buffer.concat(chunks));
        });
      },
    });
    parser.on('error', (error: Error) => reject(error instanceof BundleError ? error : new BundleError(`bundle is not a valid tar.gz: ${error.message}`)));
    parser.on('abort', (error: Error) => reject(error));
    parser.on('end', () => resolve(files));
    parser.end(archive);
  });
}
