import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/config.ts';
import { loadRouteTable, matchRoute, parseRouteTable } from '../../src/gateway/routes.ts';

const segments = (path: string) => path.split('/').slice(1);

describe('the default route table (examples/routes.yaml)', async () => {
  const table = await loadRouteTable('examples/routes.yaml');
  const cases = [
    ['GET', '/v1/integrations', 'read', 'integration'],
    ['GET', '/v1/integrations/i-1', 'read', 'integration'],
    ['POST', '/v1/integrations', 'create', 'integration'],
    ['PUT', '/v1/integrations/i-1', 'update', 'integration'],
    ['PATCH', '/v1/integrations/i-1', 'update', 'integration'],
    ['DELETE', '/v1/integrations/i-1', 'delete', 'integration'],
    ['GET', '/v1/mcp-integrations', 'read', 'mcp_integration'],
    ['POST', '/v1/mcp-integrations', 'create', 'mcp_integration'],
    ['PATCH', '/v1/mcp-integrations/m-1', 'update', 'mcp_integration'],
    ['DELETE', '/v1/mcp-integrations/m-1', 'delete', 'mcp_integration'],
    ['GET', '/v1/mcp-servers/s-1', 'read', 'mcp_server'],
    ['POST', '/v1/mcp-servers', 'create', 'mcp_server'],
    ['PUT', '/v1/mcp-servers/s-1', 'update', 'mcp_server'],
    ['DELETE', '/v1/mcp-servers/s-1', 'delete', 'mcp_server'],
  ] as const;
  for (const [method, path, action, type] of cases) {
    test(`${method} ${path} is ${action} of ${type}`, () => {
      const match = matchRoute(table, method, segments(path));
      assert.ok(match);
      assert.equal(match.route.action, action);
      assert.equal(match.route.type, type);
    });
  }

  test('a path with :id names the resource, and the workspace id is looked for in header, query, then body', () => {
    const match = matchRoute(table, 'DELETE', segments('/v1/mcp-servers/s-1'))!;
    assert.equal(match.params.id, 's-1');
    assert.deepEqual(match.route.resourceId, [{ kind: 'path', name: 'id' }]);
    assert.deepEqual(
      match.route.workspaceId.map((s) => `${s.kind}:${s.name}`),
      ['header:x-portkey-workspace-id', 'query:workspace_id', 'body:workspace_id'],
    );
  });

  test('methods, paths and encodings it does not list match nothing', () => {
    assert.equal(matchRoute(table, 'POST', segments('/v1/mcp-servers/s-1')), undefined);
    assert.equal(matchRoute(table, 'DELETE', segments('/v1/mcp-servers')), undefined);
    assert.equal(matchRoute(table, 'POST', segments('/v1/mcp%2Dservers')), undefined);
    assert.equal(matchRoute(table, 'GET', segments('/v1/mcp-servers/s-1/extra')), undefined);
    assert.equal(matchRoute(table, 'OPTIONS', segments('/v1/mcp-servers')), undefined);
  });
});

describe('route table validation', () => {
  const problems = (document: unknown) => {
    try {
      parseRouteTable(document, 'routes.yaml');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message;
    }
    assert.fail('expected the table to be refused');
  };
  const route = { method: 'POST', path: '/v1/mcp-servers', action: 'create', resource: 'mcp_server' };

  test('a table that is not a mapping with routes', () => {
    assert.match(problems(['x']), /must be a mapping/);
    assert.match(problems({ routes: [] }), /routes: must be a non-empty list/);
    assert.match(problems({ rutes: [route] }), /rutes: unknown key/);
  });

  test('each bad field is named with its entry', () => {
    const message = problems({
      routes: [
        route,
        { ...route, method: 'FETCH', path: '/v1/x' },
        { ...route, path: 'v1/x' },
        { ...route, path: '/v1/y', action: 'write' },
        { ...route, path: '/v1/z', resource: 'MCP server' },
        { ...route, path: '/v1/w', workspaceId: 'cookie:ws' },
        { ...route, path: '/v1/v', workspaceId: 'path:ws' },
        { ...route, path: '/v1/u', extra: true },
        { ...route, path: '/v1/:a/:a' },
        { ...route, path: '/v1/../t' },
      ],
    });
    for (const expected of [
      /routes\[1\]\.method: must be one of/,
      /routes\[2\]\.path: must be a path starting with "\/"/,
      /routes\[3\]\.action: must be one of create, update, delete, read/,
      /routes\[4\]\.resource: must be a resource type of the policy bundle/,
      /routes\[5\]\.workspaceId: "cookie:ws" must be path:<name>/,
      /routes\[6\]\.workspaceId: path:ws is not a parameter/,
      /routes\[7\]\.extra: unknown key/,
      /routes\[8\]\.path: parameter :a appears twice/,
      /routes\[9\]\.path: segment "\.\." must be a literal or :name/,
    ]) {
      assert.match(message, expected);
    }
  });

  test('two entries for the same method and path shape', () => {
    assert.match(
      problems({
        routes: [
          { ...route, path: '/v1/s/:id' },
          { ...route, method: ['PUT', 'POST'], path: '/v1/s/:other' },
        ],
      }),
      /routes\[1\]: POST \/v1\/s\/:other is already matched by routes\[0\]/,
    );
  });

  test('sources: lists, one string, header names lower-cased, explicit resource and org ids', () => {
    const table = parseRouteTable({
      workspaceId: 'query:ws',
      routes: [
        { ...route, path: '/orgs/:org/ws/:ws/servers/:name', workspaceId: 'path:ws', orgId: ['path:org'], resourceId: 'path:name' },
        { ...route, path: '/other', workspaceId: ['header:X-WS', 'body:meta.workspace'] },
        { ...route, path: '/third' },
      ],
    });
    const [first, second, third] = table.routes;
    assert.deepEqual(first!.orgId, [{ kind: 'path', name: 'org' }]);
    assert.deepEqual(first!.resourceId, [{ kind: 'path', name: 'name' }]);
    assert.deepEqual(second!.workspaceId, [
      { kind: 'header', name: 'x-ws' },
      { kind: 'body', name: 'meta.workspace' },
    ]);
    assert.deepEqual(third!.workspaceId, [{ kind: 'query', name: 'ws' }]);
  });
});
