// Verifying a bundle's .signatures.json as `opa build --signing-key` writes it and OPA
// checks it (v1/bundle/verify.go, hash.go): exactly one JWT whose payload lists every
// file of the bundle with its digest; the JWT must verify with the configured key and
// algorithm, name the configured key id and scope, and the list must match the bundle's
// files exactly, no file missing and none extra. JSON and YAML documents are hashed in a
// canonical form (keys sorted, no whitespace), everything else byte for byte.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { posix } from 'node:path';
import { compactVerify, decodeProtectedHeader } from 'jose';
import { load as loadYaml } from 'js-yaml';
import { BundleError } from './bundle.ts';

export const SIGNATURES_FILE = '.signatures.json';

export interface VerificationOptions {
  /** PEM public key (or certificate) for RS/PS/ES algorithms; the shared secret for HS. */
  key: string;
  alg: string;
  keyId: string;
  scope: string;
}

/** Checks a bundle's files against its signature; throws BundleError saying why not. */
export type BundleVerifier = (files: ReadonlyMap<string, Buffer>) => Promise<void>;

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512'];

// MD5 and SHA-1 are accepted by OPA but refused here: a collision would let a changed
// file keep a signed digest.
const DIGESTS: Record<string, string> = {
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA-512-224': 'sha512-224',
  'SHA-512-256': 'sha512-256',
};

interface SignedFile {
  name: string;
  hash: string;
  algorithm: string;
}

export function createBundleVerifier(options: VerificationOptions): BundleVerifier {
  if (!ALGORITHMS.includes(options.alg)) throw new Error(`bundle verification algorithm ${options.alg} is not one of ${ALGORITHMS.join(', ')}`);
  let key: KeyObject | Uint8Array;
  try {
    key = options.alg.startsWith('HS') ? new TextEncoder().encode(options.key) : createPublicKey(options.key);
  } catch (error) {
    throw new Error(`bundle verification key is not a PEM key or certificate: ${(error as Error).message}`);
  }
  return async (files) => {
    const signedFiles = await verifyToken(files, key, options);
    const remaining = new Map<string, SignedFile>();
    for (const file of signedFiles) {
      if (remaining.has(file.name)) throw new BundleError(`signature lists ${file.name} twice`);
      remaining.set(file.name, file);
    }
    for (const [name, bytes] of files) {
      if (name === SIGNATURES_FILE) continue;
      const signed = remaining.get(name);
      if (!signed) throw new BundleError(`${name} is not covered by the bundle signature`);
      const digest = DIGESTS[signed.algorithm];
      if (!digest) throw new BundleError(`${name}: hashing algorithm ${signed.algorithm} is not accepted (use one of ${Object.keys(DIGESTS).join(', ')})`);
      if (hashFile(name, bytes, digest) !== signed.hash.toLowerCase()) throw new BundleError(`${name}: digest does not match the bundle signature`);
      remaining.delete(name);
    }
    if (remaining.size > 0) throw new BundleError(`signed file(s) missing from the bundle: ${[...remaining.keys()].join(', ')}`);
  };
}

async function verifyToken(files: ReadonlyMap<string, Buffer>, key: KeyObject | Uint8Array, options: VerificationOptions): Promise<SignedFile[]> {
  const raw = files.get(SIGNATURES_FILE);
  if (!raw) throw new BundleError(`bundle is not signed: no ${SIGNATURES_FILE}`);
  let signatures: unknown;
  try {
    signatures = (JSON.parse(raw.toString('utf8')) as { signatures?: unknown }).signatures;
  } catch {
    throw new BundleError(`${SIGNATURES_FILE} is not valid JSON`);
  }
  if (!Array.isArray(signatures) || signatures.length !== 1 || typeof signatures[0] !== 'string') {
    throw new BundleError(`${SIGNATURES_FILE} must hold exactly one JWT`);
  }
  const token = signatures[0];
  let payloadBytes: Uint8Array;
  let headerKid: unknown;
  try {
    headerKid = decodeProtectedHeader(token).kid;
    payloadBytes = (await compactVerify(token, key, { algorithms: [options.alg] })).payload;
  } catch (error) {
    throw new BundleError(`bundle signature does not verify: ${(error as Error).message}`);
  }
  const payload = parsePayload(payloadBytes);
  const keyId = headerKid ?? payload.keyid;
  if (keyId !== undefined && keyId !== options.keyId) throw new BundleError(`bundle is signed with key id ${String(keyId)}, expected ${options.keyId}`);
  if ((payload.scope ?? '') !== options.scope)
    throw new BundleError(`bundle signature scope ${JSON.stringify(payload.scope ?? '')} is not the configured ${JSON.stringify(options.scope)}`);
  return payload.files;
}

function parsePayload(bytes: Uint8Array): { files: SignedFile[]; keyid?: unknown; scope?: unknown } {
  let payload: { files?: unknown; keyid?: unknown; scope?: unknown };
  try {
    payload = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new BundleError('bundle signature payload is not JSON');
  }
  const files = payload?.files;
  const valid = (f: unknown): f is SignedFile =>
    typeof f === 'object' && f !== null && ['name', 'hash', 'algorithm'].every((k) => typeof (f as Record<string, unknown>)[k] === 'string');
  if (!Array.isArray(files) || !files.every(valid)) throw new BundleError('bundle signature payload has no valid files list');
  return { files: files.map((f) => ({ ...f, name: f.name.replace(/^\/+/, '') })), keyid: payload.keyid, scope: payload.scope };
}

/** The digest OPA computes for a bundle file, hex encoded. */
export function hashFile(name: string, bytes: Buffer, digest: string): string {
  const base = posix.basename(name);
  let content: Buffer | string = bytes;
  try {
    if (base === 'data.json' || base === '.manifest') content = canonicalJson(stripBom(bytes.toString('utf8')));
    else if (base === 'data.yaml' || base === 'data.yml') content = canonicalJson(JSON.stringify(loadYaml(bytes.toString('utf8')) ?? null));
  } catch (error) {
    throw new BundleError(`${name} is not a valid document: ${(error as Error).message}`);
  }
  return createHash(digest).update(content).digest('hex');
}

const stripBom = (text: string) => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);

// Go's encoding/json with SetEscapeHTML(false): as JSON.stringify, except that it
// escapes the two JavaScript line terminators.
const encodeString = (s: string) =>
  JSON.stringify(s)
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');

/**
 * OPA's canonical form of a JSON document: object keys sorted by their UTF-8 bytes (the
 * last of duplicates wins, as in Go), no whitespace, numbers written exactly as in the
 * source (OPA decodes them as json.Number).
 */
export function canonicalJson(text: string): string {
  const literal = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
  const string = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`${what} at offset ${i}`);
  };
  const expect = (char: string) => {
    skipSpace();
    if (text[i] !== char) fail(`expected '${char}'`);
    i++;
  };
  const readString = (): string => {
    string.lastIndex = i;
    const match = string.exec(text) ?? fail('invalid string');
    i = string.lastIndex;
    return JSON.parse(match[0]) as string;
  };
  const value = (): string => {
    skipSpace();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries = new Map<string, string>();
      skipSpace();
      if (text[i] === '}') i++;
      else {
        for (;;) {
          skipSpace();
          const key = readString();
          expect(':');
          entries.set(key, value());
          skipSpace();
          if (text[i] === ',') i++;
          else {
            expect('}');
            break;
          }
        }
      }
      const keys = [...entries.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      return `{${keys.map((k) => `${encodeString(k)}:${entries.get(k)}`).join(',')}}`;
    }
    if (c === '[') {
      i++;
      const items: string[] = [];
      skipSpace();
      if (text[i] === ']') i++;
      else {
        for (;;) {
          items.push(value());
          skipSpace();
          if (text[i] === ',') i++;
          else {
            expect(']');
            break;
          }
        }
      }
      return `[${items.join(',')}]`;
    }
    if (c === '"') return encodeString(readString());
    literal.lastIndex = i;
    const match = literal.exec(text) ?? fail('invalid value');
    i = literal.lastIndex;
    return match[0];
  };
  const result = value();
  skipSpace();
  if (i !== text.length) fail('unexpected content after the document');
  return result;
}
