// Token verification on its own: keys from a shared secret, a JWKS file and a JWKS URL
// (served by a real HTTP server), and every way a token can be refused.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { ConfigError } from '../../src/config.ts';
import { ApiError } from '../../src/errors.ts';
import { createIdentity, DEFAULT_CLAIMS, parseWorkspaceRoles, type Identity, type IdentityConfig } from '../../src/gateway/identity.ts';
import { JWT_SECRET, PRINCIPALS, signToken } from './support.ts';

const base: IdentityConfig = {
  gatewayIdentity: 'jwt',
  gatewayJwtSecret: '',
  gatewayJwksFile: '',
  gatewayJwksUrl: '',
  gatewayJwtAlgorithms: '',
  gatewayJwtIssuer: '',
  gatewayJwtAudience: '',
  gatewayJwtClaims: DEFAULT_CLAIMS,
};
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function refusal(identity: Identity, headers: Record<string, string>): Promise<ApiError> {
  try {
    await identity.identify(headers);
  } catch (error) {
    assert.ok(error instanceof ApiError, String(error));
    return error;
  }
  assert.fail('expected the identity to be refused');
}

describe('HS256 with a shared secret', () => {
  let identity: Identity;
  before(async () => (identity = await createIdentity({ ...base, gatewayJwtSecret: JWT_SECRET })));

  test('a valid token gives the mapped claims', async () => {
    const claimed = await identity.identify(bearer(await signToken(PRINCIPALS.manager)));
    assert.deepEqual(claimed.principal, { id: 'u-manager', orgId: 'org-1', orgRole: 'member', workspaceRoles: { 'ws-1': 'manager' } });
    assert.equal(claimed.names.orgRole, 'claim org_role');
  });

  test('no Authorization header: 401 missing_token', async () => {
    const error = await refusal(identity, {});
    assert.equal(error.status, 401);
    assert.equal(error.code, 'missing_token');
  });

  test('not a bearer token, or garbage: 401 malformed_token', async () => {
    assert.equal((await refusal(identity, { authorization: 'Basic dTpw' })).code, 'malformed_token');
    assert.equal((await refusal(identity, bearer('not.a.jwt'))).code, 'malformed_token');
    assert.equal((await refusal(identity, bearer('x'.repeat(9000)))).code, 'malformed_token');
  });

  test('alg none is refused, whatever the claims say', async () => {
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...PRINCIPALS.manager, exp: Math.floor(Date.now() / 1000) + 300 })}.`;
    const error = await refusal(identity, bearer(unsigned));
    assert.equal(error.status, 401);
    assert.equal(error.code, 'alg_not_allowed');
  });

  test('a token signed with another key: 401 bad_signature', async () => {
    const token = await signToken(PRINCIPALS.owner, { key: new TextEncoder().encode('another-secret-that-is-also-32-bytes-long') });
    assert.equal((await refusal(identity, bearer(token))).code, 'bad_signature');
  });

  test('a token whose payload was edited after signing: 401 bad_signature', async () => {
    const [header, , signature] = (await signToken(PRINCIPALS.member)).split('.');
    const forged = `${header}.${b64({ ...PRINCIPALS.owner, exp: Math.floor(Date.now() / 1000) + 300 })}.${signature}`;
    assert.equal((await refusal(identity, bearer(forged))).code, 'bad_signature');
  });

  test('an HS384 token when only HS256 is accepted: 401 alg_not_allowed', async () => {
    const token = await new SignJWT(PRINCIPALS.owner).setProtectedHeader({ alg: 'HS384' }).setExpirationTime('5m').sign(new TextEncoder().encode(JWT_SECRET));
    assert.equal((await refusal(identity, bearer(token))).code, 'alg_not_allowed');
  });

  test('an expired token: 401 token_expired', async () => {
    const token = await signToken(PRINCIPALS.owner, { expiresAt: Math.floor(Date.now() / 1000) - 60 });
    assert.equal((await refusal(identity, bearer(token))).code, 'token_expired');
  });

  test('a token with no exp: 401 invalid_claims', async () => {
    const token = await new SignJWT(PRINCIPALS.owner).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(JWT_SECRET));
    const error = await refusal(identity, bearer(token));
    assert.equal(error.code, 'invalid_claims');
    assert.match(error.message, /exp claim is missing/);
  });
});

describe('issuer, audience and claims mapping', () => {
  test('a wrong iss or aud is refused; the right ones pass', async () => {
    const identity = await createIdentity({ ...base, gatewayJwtSecret: JWT_SECRET, gatewayJwtIssuer: 'https://idp', gatewayJwtAudience: 'portkey' });
    const sign = (iss: string, aud: string) =>
      new SignJWT(PRINCIPALS.owner)
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(iss)
        .setAudience(aud)
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(JWT_SECRET));
    assert.equal((await refusal(identity, bearer(await sign('https://evil', 'portkey')))).code, 'invalid_claims');
    assert.equal((await refusal(identity, bearer(await sign('https://idp', 'other')))).code, 'invalid_claims');
    assert.equal((await identity.identify(bearer(await sign('https://idp', 'portkey')))).principal.id, 'u-owner');
  });

  test('claims are read from the configured names', async () => {
    const identity = await createIdentity({ ...base, gatewayJwtSecret: JWT_SECRET, gatewayJwtClaims: 'id=email,orgRole=https://portkey.ai/role' });
    const token = await signToken({ email: 'a@b.c', org_id: 'org-1', 'https://portkey.ai/role': 'admin' });
    const claimed = await identity.identify(bearer(token));
    assert.deepEqual(claimed.principal, { id: 'a@b.c', orgId: 'org-1', orgRole: 'admin', workspaceRoles: undefined });
    assert.equal(claimed.names.orgRole, 'claim https://portkey.ai/role');
  });
});

describe('RS256 and ES256 from a JWKS', () => {
  let dir: string;
  let server: Server;
  let jwksUrl: string;
  const keys: Record<string, { privateKey: CryptoKey; kid: string }> = {};
  const sign = (alg: 'RS256' | 'ES256', claims: JWTPayload = PRINCIPALS.owner, kid = keys[alg]!.kid) =>
    new SignJWT(claims).setProtectedHeader({ alg, kid }).setExpirationTime('5m').sign(keys[alg]!.privateKey);

  before(async () => {
    const jwks: { keys: object[] } = { keys: [] };
    for (const alg of ['RS256', 'ES256'] as const) {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      keys[alg] = { privateKey, kid: `test-${alg}` };
      jwks.keys.push({ ...(await exportJWK(publicKey)), kid: `test-${alg}`, alg, use: 'sig' });
    }
    dir = await mkdtemp(join(tmpdir(), 'portcullis-jwks-'));
    await writeFile(join(dir, 'jwks.json'), JSON.stringify(jwks));
    server = createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify(jwks)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const source of ['file', 'url'] as const) {
    test(`keys from a JWKS ${source}: both algorithms verify; unknown kid, HS256 and a foreign key are refused`, async () => {
      const identity = await createIdentity(source === 'file' ? { ...base, gatewayJwksFile: join(dir, 'jwks.json') } : { ...base, gatewayJwksUrl: jwksUrl });
      assert.equal((await identity.identify(bearer(await sign('RS256')))).principal.id, 'u-owner');
      assert.equal((await identity.identify(bearer(await sign('ES256')))).principal.id, 'u-owner');
      assert.equal((await refusal(identity, bearer(await sign('RS256', PRINCIPALS.owner, 'no-such-kid')))).code, 'unknown_key');
      assert.equal((await refusal(identity, bearer(await signToken(PRINCIPALS.owner)))).code, 'alg_not_allowed');
      const stranger = await generateKeyPair('ES256');
      const foreign = await new SignJWT(PRINCIPALS.owner)
        .setProtectedHeader({ alg: 'ES256', kid: keys.ES256!.kid })
        .setExpirationTime('5m')
        .sign(stranger.privateKey);
      assert.equal((await refusal(identity, bearer(foreign))).code, 'bad_signature');
    });
  }

  test('an unreachable JWKS URL is the key source failing (503), not the token', async () => {
    const identity = await createIdentity({ ...base, gatewayJwksUrl: 'http://127.0.0.1:9/jwks.json' });
    const error = await refusal(identity, bearer(await sign('RS256')));
    assert.equal(error.status, 503);
    assert.equal(error.code, 'jwks_unavailable');
  });
});

describe('trusted headers', () => {
  let identity: Identity;
  before(async () => (identity = await createIdentity({ ...base, gatewayIdentity: 'headers' })));

  test('the principal comes from x-portkey-* headers, roles as JSON or ws:role lists', async () => {
    const headers = { 'x-portkey-user-id': 'u-1', 'x-portkey-org-id': 'org-1', 'x-portkey-org-role': 'member' };
    const json = await identity.identify({ ...headers, 'x-portkey-workspace-roles': '{"ws-1":"manager"}' });
    assert.deepEqual({ ...(json.principal.workspaceRoles as object) }, { 'ws-1': 'manager' });
    const list = await identity.identify({ ...headers, 'x-portkey-workspace-roles': 'ws-1:manager, ws-2:member' });
    assert.deepEqual({ ...(list.principal.workspaceRoles as object) }, { 'ws-1': 'manager', 'ws-2': 'member' });
    assert.equal(list.names.id, 'header x-portkey-user-id');
  });

  test('no user id header: 401 missing_identity; unreadable roles: 401 invalid_claims', async () => {
    assert.equal((await refusal(identity, {})).code, 'missing_identity');
    assert.equal((await refusal(identity, { 'x-portkey-user-id': 'u-1', 'x-portkey-workspace-roles': '{oops' })).code, 'invalid_claims');
    assert.throws(() => parseWorkspaceRoles('ws-1'), /must be <workspace>:<role>/);
  });

  test('a workspace named twice in the roles header is refused, in either form, not last-one-wins', () => {
    for (const value of ['ws-1:member,ws-1:manager', '{"ws-1":"member","ws-1":"manager"}', '{"ws-1":"member","ws\\u002d1":"manager"}']) {
      assert.throws(
        () => parseWorkspaceRoles(value),
        (error: unknown) => error instanceof ApiError && error.code === 'invalid_claims' && /more than once/.test(error.message),
        value,
      );
    }
  });
});

describe('configuration is checked at start', () => {
  const refused = async (config: Partial<IdentityConfig>, pattern: RegExp) => {
    await assert.rejects(createIdentity({ ...base, ...config }), (error: unknown) => error instanceof ConfigError && pattern.test(error.message));
  };

  test('bad identity kinds, key sources, algorithms and mappings', async () => {
    await refused({ gatewayIdentity: 'cookies' }, /GATEWAY_IDENTITY must be jwt or headers/);
    await refused({ gatewayJwtSecret: JWT_SECRET, gatewayJwksUrl: 'http://x' }, /set only one of GATEWAY_JWT_SECRET, GATEWAY_JWKS_URL/);
    await refused({ gatewayJwtSecret: 'short' }, /^GATEWAY_JWT_SECRET must be at least 32 bytes/);
    // Set in the PORTCULLIS_CONFIG file, it is named by its key there.
    await refused(
      { gatewayJwtSecret: 'short', fromFile: { path: 'portcullis.yaml', keys: ['gatewayJwtSecret'] } },
      /^gatewayJwtSecret \(in portcullis\.yaml\) must be at least 32 bytes/,
    );
    await refused({ gatewayJwtSecret: JWT_SECRET, gatewayJwtAlgorithms: 'none' }, /none cannot be used/);
    await refused({ gatewayJwtSecret: JWT_SECRET, gatewayJwtAlgorithms: 'RS256' }, /RS256 cannot be used with GATEWAY_JWT_SECRET/);
    await refused({ gatewayJwksUrl: 'http://x', gatewayJwtAlgorithms: 'HS256' }, /HS256 cannot be used with GATEWAY_JWKS_URL/);
    await refused({ gatewayJwksUrl: 'not a url' }, /must be a URL/);
    await refused({ gatewayJwksFile: '/nonexistent/jwks.json' }, /GATEWAY_JWKS_FILE/);
    await refused({ gatewayJwtSecret: JWT_SECRET, gatewayJwtClaims: 'role=x' }, /must be <field>=<claim>/);
  });

  test('jwt mode with no key refuses every request rather than trusting claims', async () => {
    const identity = await createIdentity(base);
    assert.equal((await refusal(identity, bearer(await signToken(PRINCIPALS.owner)))).code, 'jwt_not_configured');
  });
});
