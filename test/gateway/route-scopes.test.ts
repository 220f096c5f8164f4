// The scope of each route of the example route table is the committed bundle's scope table's,
// for the route's resource type and action: no route lacks one, and the data plane's paths map
// to the data plane's scopes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { familiesFromData } from '../../src/engine/families.ts';
import { loadRouteTable, matchRoute, routeScope } from '../../src/gateway/routes.ts';

const families = familiesFromData(JSON.parse(readFileSync('policies/data.json', 'utf8')) as Record<string, unknown>);
const table = await loadRouteTable('examples/routes.yaml');

const scopeAt = (method: string, path: string) => {
  const match = matchRoute(table, method, path.split('/').slice(1));
  assert.ok(match, `${method} ${path} matches a route`);
  return routeScope(match.route, families);
};

test('every example route names a scope', () => {
  assert.deepEqual(
    table.routes.filter((route) => routeScope(route, families) === undefined).map((route) => route.pattern),
    [],
  );
});

test('control-plane and data-plane paths take the product scopes', () => {
  assert.equal(scopeAt('POST', '/v1/mcp-servers'), 'mcp_servers.create');
  assert.equal(scopeAt('DELETE', '/v1/integrations/i-1'), 'workspace_integrations.delete');
  assert.equal(scopeAt('GET', '/v1/logs/exports'), 'logs.view');
  assert.equal(scopeAt('POST', '/v1/chat/completions'), 'completions.write');
  assert.equal(scopeAt('POST', '/v1/embeddings'), 'completions.write');
  assert.equal(scopeAt('POST', '/v1/prompts/p-1/render'), 'prompts.render');
  assert.equal(scopeAt('POST', '/v1/logs'), 'logs.write');
  assert.equal(scopeAt('POST', '/linear/mcp'), 'mcp.invoke');
  for (const type of ['completion', 'prompt_render', 'log_entry', 'mcp_invocation']) assert.ok(families.dataPlaneTypes.includes(type), type);
});

test('a resource type or action the table does not name has no scope', () => {
  assert.equal(families.scopeOf('analytics', 'create'), undefined);
  assert.equal(families.scopeOf('nothing', 'read'), undefined);
  assert.equal(families.scopeOf('mcp_server', '__proto__'), undefined);
});
