// Signed bundles, signed by the real opa CLI (`opa build --bundle --signing-key`), with an
// RSA key (RS256) and with an HMAC secret (HS256): accepted with the right key; refused
// when unsigned, tampered with, missing or gaining a file, or checked with the wrong key.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { create } from 'tar';
import { readBundle } from '../../src/engine/bundle.ts';
import { createBundleVerifier, type VerificationOptions } from '../../src/engine/signature.ts';
import { testSidecar } from '../support/sidecar.ts';
import { buildBundle } from './support.ts';

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
let dir: string;
let publicKey: string;
let otherPublicKey: string;
let rsaSigned: string;
let hmacSigned: string;
let unsigned: string;

const keyPair = () =>
  generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-signed-'));
  const signer = keyPair();
  publicKey = signer.publicKey;
  otherPublicKey = keyPair().publicKey;
  const privateKeyPath = join(dir, 'signing.pem');
  await writeFile(privateKeyPath, signer.privateKey);
  [rsaSigned, hmacSigned, unsigned] = await Promise.all([
    buildBundle(dir, { revision: 'rsa', signingKey: privateKeyPath, signingAlg: 'RS256' }),
    buildBundle(dir, { revision: 'hmac', signingKey: SECRET, signingAlg: 'HS256' }),
    buildBundle(dir, { revision: 'unsigned' }),
  ]);
});
after(() => rm(dir, { recursive: true, force: true }));

const rsa = (): VerificationOptions => ({ key: publicKey, alg: 'RS256', keyId: 'default', scope: '' });
const hmac = (): VerificationOptions => ({ key: SECRET, alg: 'HS256', keyId: 'default', scope: '' });

async function verify(path: string | Buffer, options: VerificationOptions): Promise<void> {
  const bundle = await readBundle(typeof path === 'string' ? await readFile(path) : path);
  await createBundleVerifier(options)(bundle.files);
}

/** The signed bundle's files, changed by `change`, packed again (the signature left as it was). */
async function repack(path: string, change: (files: Map<string, Buffer>) => void): Promise<Buffer> {
  const files = new Map((await readBundle(await readFile(path))).files);
  change(files);
  const staging = await mkdtemp(join(dir, 'repack-'));
  for (const [name, bytes] of files) {
    await mkdir(dirname(join(staging, name)), { recursive: true });
    await writeFile(join(staging, name), bytes);
  }
  await create({ gzip: true, file: join(staging, 'out.tar.gz'), cwd: staging }, [...files.keys()]);
  return readFile(join(staging, 'out.tar.gz'));
}

test('bundles opa signed with an RSA key (RS256) and with a secret (HS256) verify', async () => {
  await verify(rsaSigned, rsa());
  await verify(hmacSigned, hmac());
});

test('a bundle with no .signatures.json is refused when a key is configured', async () => {
  await assert.rejects(verify(unsigned, rsa()), /not signed: no \.signatures\.json/);
});

test('the wrong key or algorithm is refused', async () => {
  await assert.rejects(verify(rsaSigned, { ...rsa(), key: otherPublicKey }), /signature does not verify/);
  await assert.rejects(verify(hmacSigned, { ...hmac(), key: 'another-secret-of-at-least-32-bytes!!!' }), /signature does not verify/);
  await assert.rejects(verify(hmacSigned, rsa()), /signature does not verify/);
  await assert.rejects(verify(rsaSigned, { ...rsa(), keyId: 'production' }), /key id default, expected production/);
  await assert.rejects(verify(rsaSigned, { ...rsa(), scope: 'write' }), /scope/);
});

test('a tampered, added or removed file is refused', async () => {
  const tamperedData = await repack(rsaSigned, (files) =>
    files.set('data.json', Buffer.from('{"portkey":{"config":{"manager_roles":["admin","manager","member"]}}}')),
  );
  await assert.rejects(verify(tamperedData, rsa()), /data\.json: digest does not match/);
  const tamperedWasm = await repack(rsaSigned, (files) => {
    const wasm = Buffer.from(files.get('policy.wasm')!);
    wasm[wasm.length - 1] = wasm.at(-1)! ^ 1;
    files.set('policy.wasm', wasm);
  });
  await assert.rejects(verify(tamperedWasm, rsa()), /policy\.wasm: digest does not match/);
  const added = await repack(rsaSigned, (files) => files.set('extra.rego', Buffer.from('package extra\n')));
  await assert.rejects(verify(added, rsa()), /extra\.rego is not covered/);
  const removed = await repack(rsaSigned, (files) => files.delete('authz.rego'));
  await assert.rejects(verify(removed, rsa()), /missing from the bundle: authz\.rego/);
  const noSignature = await repack(rsaSigned, (files) => files.delete('.signatures.json'));
  await assert.rejects(verify(noSignature, rsa()), /not signed/);
  // Reformatting a JSON document changes no digest: JSON is hashed in canonical form.
  const reformatted = await repack(rsaSigned, (files) =>
    files.set('data.json', Buffer.from(JSON.stringify(JSON.parse(files.get('data.json')!.toString()), null, 2))),
  );
  await verify(reformatted, rsa());
});

test('the sidecar starts only from a verified bundle', async () => {
  const signed = await testSidecar({ bundlePath: rsaSigned, bundleWatch: false, bundleVerificationKey: publicKey });
  assert.equal(signed.policy.current?.revision, 'rsa');
  await signed.close();
  await assert.rejects(testSidecar({ bundlePath: unsigned, bundleWatch: false, bundleVerificationKey: publicKey }), /not signed/);
  await assert.rejects(
    testSidecar({ bundlePath: hmacSigned, bundleWatch: false, bundleVerificationKey: 'wrong-secret', bundleVerificationAlg: 'HS256' }),
    /does not verify/,
  );
});
