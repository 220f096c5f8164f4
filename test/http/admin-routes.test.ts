// The admin API's routes are written once, in src/http/admin-routes.ts: this test walks the
// routes the app really mounts and fails when an admin route (under /v1/orgs, /v1/token or
// /v1/audit) is not in ADMIN_ROUTES, or a route of the table is not mounted, and when the
// OpenAPI document's admin paths differ from the table; and it reads the table as the sidecar
// serves it to clients. The scopes are proved per route by test/http/admin-tokens.test.ts,
// which iterates the same table.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { DECISION_APIS } from '../../src/decision/record.ts';
import { ACTIONS, ORG_ROLES, WORKSPACE_ROLES } from '../../src/decision/request.ts';
import { ADMIN_PATHS, ADMIN_PREFIXES, ADMIN_ROUTES, methodsOf } from '../../src/http/admin-routes.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN, testSidecar } from '../support/sidecar.ts';

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every method + path the app mounts (router.all, the 405 answers, excluded), nested routers included. */
function mounted(stack: Layer[]): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      const methods = Object.keys(layer.route.methods).filter((m) => m !== '_all' && m !== 'head');
      return paths.flatMap((path) => methods.map((method) => `${method.toUpperCase()} ${path}`));
    }
    return layer.handle?.stack ? mounted(layer.handle.stack) : [];
  });
}

let sidecar: Sidecar;
let app: NonNullable<Sidecar['adminApp']>;
before(async () => {
  // The admin API on its own port: the sidecar builds it as an Express app apart from the decision API.
  sidecar = await testSidecar({ adminPort: 1 });
  app = sidecar.adminApp!;
});
after(() => sidecar.close());

const isAdmin = (route: string) => ADMIN_PREFIXES.some((prefix) => route.split(' ')[1]!.startsWith(prefix));

test('every admin route the app mounts is in ADMIN_ROUTES, and every route of the table is mounted', () => {
  const stack = (app as unknown as { router: { stack: Layer[] } }).router.stack;
  const routes = mounted(stack);
  assert.ok(routes.length > 20, `only ${routes.length} routes found; the walk no longer sees Express's router`);
  const admin = [...new Set(routes.filter(isAdmin))].sort();
  const table = ADMIN_ROUTES.map((route) => `${route.method} ${route.path}`).sort();
  assert.deepEqual(admin, table);
  assert.equal(new Set(table).size, table.length, 'a route is in the table twice');
});

test("the table's prefixes are exactly /v1/orgs, /v1/token, /v1/admin-api and /v1/audit, each behind the token check", async () => {
  assert.deepEqual([...ADMIN_PREFIXES].sort(), ['/v1/admin-api', '/v1/audit', '/v1/orgs', '/v1/token']);
  for (const route of ADMIN_ROUTES) {
    const path = route.path.replace(/:(\w+)/g, (_m, name: string) => (name === 'family' ? 'integration-access' : `${name}-1`));
    const res = await request(app)[route.method.toLowerCase() as 'get'](path);
    assert.equal(res.status, 401, `${route.method} ${path} without a token: ${res.status}`);
  }
});

test("a method a table path does not take is answered 405 with the table's methods in Allow", async () => {
  for (const path of new Set(ADMIN_ROUTES.map((route) => route.path))) {
    const concrete = path.replace(/:(\w+)/g, (_m, name: string) => (name === 'family' ? 'integration-access' : `${name}-1`));
    const taken = new Set(methodsOf(path));
    const other = ['GET', 'PUT', 'PATCH', 'POST', 'DELETE'].find((method) => !taken.has(method));
    if (!other || path === '/v1/token' || path.startsWith('/v1/audit/decisions') || path.startsWith('/v1/audit/s')) continue;
    const res = await request(app)[other.toLowerCase() as 'get'](concrete).set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    assert.equal(res.status, 405, `${other} ${concrete}: ${res.status}`);
    assert.equal(res.headers.allow, [...taken].join(', '));
  }
});

test("the OpenAPI document's admin paths are the table's, each operation behind the admin token", async () => {
  const res = await request(app).get('/v1/openapi.json');
  assert.equal(res.status, 200);
  const paths = res.body.paths as Record<string, Record<string, { security?: unknown }>>;
  const operations = Object.entries(paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => ['get', 'put', 'patch', 'post', 'delete'].includes(method))
      .map(([method, operation]) => ({ route: `${method.toUpperCase()} ${path}`, operation })),
  );
  const described = operations.filter(({ route }) => isAdmin(route));
  const table = ADMIN_ROUTES.map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, '{$1}')}`).sort();
  assert.deepEqual(described.map(({ route }) => route).sort(), table);
  for (const { route, operation } of described) assert.deepEqual(operation.security, [{ adminToken: [] }], `${route} names the admin token`);
});

test('the sidecar serves the table and the enums to its clients, to any admin token', async () => {
  const res = await request(app).get(ADMIN_PATHS.adminApi).set('Authorization', `Bearer ${ADMIN_TOKEN}`);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.body.paths, ADMIN_PATHS);
  assert.deepEqual(res.body.routes, ADMIN_ROUTES);
  assert.deepEqual(res.body.enums, {
    orgRoles: ORG_ROLES,
    workspaceRoles: WORKSPACE_ROLES,
    actions: ACTIONS,
    resourceTypes: sidecar.policy.require().families.resourceTypes,
    apis: DECISION_APIS,
  });
});
