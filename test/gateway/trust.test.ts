// The gateway under attack: whose workspace it is, look-alike paths, one
// identity rule over HTTP and gRPC, body keys that parsers read differently, claim text
// that a header cannot carry, and gRPC messages sized to hurt. Real sidecar, real HTTP
// and gRPC on free ports.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { envoy, grpcCheck, grpcClient, grpcReason, nginx, type Answer, type CheckClient, type HttpAttributes } from './clients.ts';
import { listeningSidecar, PRINCIPALS, signToken, type RunningSidecar } from './support.ts';

let tokens: Record<keyof typeof PRINCIPALS, string>;
before(async () => {
  tokens = {
    manager: `Bearer ${await signToken(PRINCIPALS.manager)}`,
    member: `Bearer ${await signToken(PRINCIPALS.member)}`,
    owner: `Bearer ${await signToken(PRINCIPALS.owner)}`,
  };
});

async function withSidecar(
  overrides: Parameters<typeof listeningSidecar>[0],
  run: (sidecar: RunningSidecar, client: CheckClient) => Promise<void>,
): Promise<void> {
  // Both the Envoy path form and nginx's header form are exercised here.
  const sidecar = await listeningSidecar({ forwardAuthHeaders: 'envoy,original', ...overrides });
  const client = grpcClient(await sidecar.sidecar.grpc.listen('127.0.0.1', 0));
  try {
    await run(sidecar, client);
  } finally {
    client.close();
    await sidecar.close();
  }
}

// ---- whose workspace (the workspace directory, WORKSPACE_DIRECTORY) ------------------------------

describe('the workspace directory decides whose workspace it is', () => {
  test('an org-1 owner naming an org-2 workspace is denied cross_org, an unknown workspace unknown_workspace; both audited (HTTP and gRPC)', async () => {
    await withSidecar({}, async (sidecar, client) => {
      for (const [workspaceId, reason] of [
        ['ws-of-org-2', 'cross_org'],
        ['ws-nobody-knows', 'unknown_workspace'],
      ]) {
        const http = await envoy(sidecar, 'POST', '/v1/mcp-servers', [
          ['authorization', tokens.owner],
          ['x-portkey-workspace-id', workspaceId!],
        ]);
        assert.equal(http.status, 403, workspaceId);
        assert.equal(http.reason, reason, workspaceId);
        const audited = await sidecar.sidecar.audit.getDecision(http.decisionId!);
        assert.equal(audited?.reason, reason);
        assert.equal(audited?.allow, false);
        // Neither record's organization is one the directory placed the workspace in.
        assert.equal(audited?.orgUnverified, true, 'an organization the directory did not confirm is marked unverified');

        const rpc = await grpcCheck(client, {
          method: 'POST',
          path: '/v1/mcp-servers',
          headers: [
            ['authorization', tokens.owner],
            ['x-portkey-workspace-id', workspaceId!],
          ],
        });
        assert.equal(grpcReason(rpc), reason, workspaceId);
        assert.ok(rpc.grpcError === null && rpc.decisionId);
      }
      // Its own registered workspace is still its own.
      const own = await envoy(sidecar, 'POST', '/v1/mcp-servers', [
        ['authorization', tokens.owner],
        ['x-portkey-workspace-id', 'ws-1'],
      ]);
      assert.equal(own.status, 200);
      assert.equal(own.reason, 'org_admin');
      assert.equal(
        (await sidecar.sidecar.audit.getDecision(own.decisionId!))?.orgUnverified,
        undefined,
        'a workspace the directory placed in the organization is verified',
      );
    });
  });

  test('the nginx form is held to the directory too', async () => {
    await withSidecar({}, async (sidecar) => {
      const res = await nginx(sidecar, 'DELETE', '/v1/mcp-servers/s-1?workspace_id=ws-of-org-2', [['authorization', tokens.owner]]);
      assert.equal(res.status, 403);
      assert.equal(res.reason, 'cross_org');
    });
  });

  test('WORKSPACE_DIRECTORY=off: the organization comes from the token, unchecked', async () => {
    await withSidecar({ workspaceDirectory: false }, async (sidecar, client) => {
      const http = await envoy(sidecar, 'POST', '/v1/mcp-servers', [
        ['authorization', tokens.owner],
        ['x-portkey-workspace-id', 'ws-of-org-2'],
      ]);
      assert.equal(http.status, 200);
      assert.equal(http.reason, 'org_admin');
      const rpc = await grpcCheck(client, {
        method: 'POST',
        path: '/v1/mcp-servers',
        headers: [
          ['authorization', tokens.owner],
          ['x-portkey-workspace-id', 'ws-nobody-knows'],
        ],
      });
      assert.equal(grpcReason(rpc), 'org_admin');
    });
  });
});

// ---- canonical routes -------------------------------------------------------------------

const LOOK_ALIKES = [
  '/v1/MCP-SERVERS',
  '/V1/mcp-servers',
  '/v1/Mcp-Servers/s-1',
  '/v1/mcp%2Dservers',
  '/v1/mcp%2dservers/s-1',
  '/v1/%6Dcp-servers',
  '/v1/mcp%252Dservers',
  `/v1/${encodeURIComponent('ｍcp-servers')}`,
  '/v1/mcp-servers%2F1',
  // path parameters that Tomcat and Spring strip, and encoded spaces and controls that routers trim
  '/v1/mcp-servers;x=1',
  '/v1;/mcp-servers',
  '/v1/mcp-servers;/',
  '/v1/mcp-servers%20',
  '/v1/mcp-servers%09',
  '/v1/mcp-servers%00',
  // suffix pattern matching
  '/v1/mcp-servers.json',
];

describe('case and percent-encoded variants of protected paths', () => {
  for (const passUnmatched of [false, true]) {
    test(`are refused invalid_path over HTTP and gRPC (GATEWAY_PASS_UNMATCHED=${passUnmatched})`, async () => {
      await withSidecar({ gatewayPassUnmatched: passUnmatched }, async (sidecar, client) => {
        for (const path of LOOK_ALIKES) {
          for (const method of ['POST', 'DELETE']) {
            const http = await envoy(sidecar, method, path, [
              ['authorization', tokens.owner],
              ['x-portkey-workspace-id', 'ws-1'],
            ]);
            assert.equal(http.status, 403, `${method} ${path}`);
            assert.equal(http.reason, 'invalid_path', `${method} ${path}`);
            assert.equal(http.decisionId, null);
          }
          const rpc = await grpcCheck(client, {
            method: 'POST',
            path,
            headers: [
              ['authorization', tokens.owner],
              ['x-portkey-workspace-id', 'ws-1'],
            ],
          });
          assert.equal(grpcReason(rpc), 'invalid_path', path);
          assert.ok(rpc.grpcError === null && rpc.code === 7);
        }
        const nginxForm = await nginx(sidecar, 'POST', '/v1/MCP-SERVERS', [
          ['authorization', tokens.owner],
          ['x-portkey-workspace-id', 'ws-1'],
        ]);
        assert.equal(nginxForm.reason, 'invalid_path');
        // What is no look-alike keeps its behaviour.
        const unmatched = await envoy(sidecar, 'POST', '/v1/mcp-servers-archive', [['authorization', tokens.owner]]);
        assert.equal(unmatched.reason, 'no_route');
        assert.equal(unmatched.status, passUnmatched ? 200 : 403);
        const exact = await envoy(sidecar, 'POST', '/v1/mcp-servers', [
          ['authorization', tokens.owner],
          ['x-portkey-workspace-id', 'ws-1'],
        ]);
        assert.equal(exact.status, 200);
      });
    });
  }

  test('malformed percent-encoding is invalid_path; an encoded :param value is still decoded', async () => {
    await withSidecar({ gatewayPassUnmatched: true }, async (sidecar) => {
      const malformed = await envoy(sidecar, 'GET', '/v1/other%ZZ', [['authorization', tokens.owner]]);
      assert.equal(malformed.status, 403);
      assert.equal(malformed.reason, 'invalid_path');
      const param = await envoy(sidecar, 'DELETE', '/v1/mcp-servers/s%2D1', [
        ['authorization', tokens.owner],
        ['x-portkey-workspace-id', 'ws-1'],
      ]);
      assert.equal(param.status, 200);
      const audited = await sidecar.sidecar.audit.getDecision(param.decisionId!);
      assert.equal(audited?.resource.id, 's-1');
    });
  });
});

// ---- one identity rule ------------------------------------------------------------------

describe('identity headers over gRPC are held to the HTTP rule', () => {
  const trusted: [string, string][] = [
    ['x-portkey-user-id', 'u-9'],
    ['x-portkey-org-id', 'org-1'],
    ['x-portkey-org-role', 'member'],
    ['x-portkey-workspace-id', 'ws-1'],
    ['x-portkey-workspace-roles', 'ws-1:member'],
  ];
  const without = (name: string) => trusted.filter(([n]) => n !== name);

  test('a trusted header repeated in headers, in header_map, or present in both: 401 duplicate_identity_header', async () => {
    await withSidecar({ gatewayIdentity: 'headers', gatewayJwtSecret: '' }, async (sidecar, client) => {
      const cases: [string, HttpAttributes][] = [
        ['headers', { method: 'POST', path: '/v1/integrations', headers: [...trusted, ['x-portkey-workspace-roles', 'ws-1:manager']] }],
        [
          'headers, other case',
          {
            method: 'POST',
            path: '/v1/integrations',
            headers: [...without('x-portkey-org-role'), ['x-portkey-org-role', 'owner'], ['X-Portkey-Org-Role', 'member']],
          },
        ],
        ['header_map', { method: 'POST', path: '/v1/integrations', headerMap: [...trusted, ['x-portkey-org-role', 'owner']] }],
        ['both', { method: 'POST', path: '/v1/integrations', headers: trusted, headerMap: [['x-portkey-org-role', 'owner']] }],
      ];
      for (const [name, http] of cases) {
        const rpc = await grpcCheck(client, http);
        assert.equal(grpcReason(rpc), 'duplicate_identity_header', name);
        assert.ok(rpc.grpcError === null && rpc.code === 16, name);
      }
      const once = await grpcCheck(client, { method: 'POST', path: '/v1/integrations', headers: trusted, headerMap: [['x-portkey-org-role-note', 'x']] });
      assert.equal(grpcReason(once), 'read_only_role');
      // HTTP: the same for a repeated Authorization (Node would keep the first, an upstream maybe the last).
      const http = await envoy(sidecar, 'POST', '/v1/integrations', [...trusted, ['x-portkey-org-role', 'owner']]);
      assert.equal(http.status, 401);
      assert.equal(http.reason, 'duplicate_identity_header');
    });
  });

  test('two Authorization headers: 401 duplicate_identity_header over HTTP and gRPC', async () => {
    await withSidecar({}, async (sidecar, client) => {
      const headers: [string, string][] = [
        ['authorization', tokens.member],
        ['authorization', tokens.owner],
        ['x-portkey-workspace-id', 'ws-1'],
      ];
      const http = await envoy(sidecar, 'DELETE', '/v1/mcp-servers/s-1', headers);
      assert.equal(http.status, 401);
      assert.equal(http.reason, 'duplicate_identity_header');
      assert.equal(grpcReason(await grpcCheck(client, { method: 'DELETE', path: '/v1/mcp-servers/s-1', headerMap: headers })), 'duplicate_identity_header');
    });
  });

  test('a client-sent x-portcullis-* header is refused forbidden_header: HTTP, nginx form, gRPC', async () => {
    await withSidecar({}, async (sidecar, client) => {
      const headers: [string, string][] = [
        ['authorization', tokens.owner],
        ['x-portkey-workspace-id', 'ws-1'],
        ['X-Portcullis-Decision-Id', '00000000-0000-0000-0000-000000000000'],
      ];
      const http = await envoy(sidecar, 'POST', '/v1/mcp-servers', headers);
      assert.equal(http.status, 403);
      assert.equal(http.reason, 'forbidden_header');
      assert.equal(http.decisionId, null);
      const form = await nginx(sidecar, 'POST', '/v1/mcp-servers', headers);
      assert.equal(form.status, 403);
      assert.equal(form.reason, 'forbidden_header');
      for (const rpc of [
        await grpcCheck(client, { method: 'POST', path: '/v1/mcp-servers', headers }),
        await grpcCheck(client, { method: 'POST', path: '/v1/mcp-servers', headerMap: headers }),
      ]) {
        assert.equal(grpcReason(rpc), 'forbidden_header');
        assert.equal(rpc.grpcError === null && rpc.decisionId, null);
      }
    });
  });

  test('a method override header is refused forbidden_header: an upstream would act on another method', async () => {
    await withSidecar({}, async (sidecar, client) => {
      for (const name of ['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override']) {
        const headers: [string, string][] = [
          ['authorization', tokens.owner],
          ['x-portkey-workspace-id', 'ws-1'],
          [name, 'DELETE'],
        ];
        const http = await envoy(sidecar, 'POST', '/v1/mcp-servers', headers);
        assert.deepEqual([http.status, http.reason], [403, 'forbidden_header'], name);
        assert.equal(grpcReason(await grpcCheck(client, { method: 'POST', path: '/v1/mcp-servers', headers })), 'forbidden_header');
      }
    });
  });

  test('HEAD is decided as the GET of the same path, also with GATEWAY_PASS_UNMATCHED=true', async () => {
    await withSidecar({ gatewayPassUnmatched: true }, async (sidecar) => {
      const outsider = await envoy(sidecar, 'HEAD', '/v1/mcp-servers/s-1', [
        ['authorization', tokens.owner],
        ['x-portkey-workspace-id', 'ws-of-org-2'],
      ]);
      assert.deepEqual([outsider.status, outsider.reason], [403, 'cross_org']);
      const owner = await envoy(sidecar, 'HEAD', '/v1/mcp-servers/s-1', [
        ['authorization', tokens.owner],
        ['x-portkey-workspace-id', 'ws-1'],
      ]);
      assert.deepEqual([owner.status, owner.reason], [200, 'org_admin']);
    });
  });
});

describe('gRPC limits', () => {
  const health = async (sidecar: RunningSidecar) => (await fetch(`${sidecar.url}/health`)).status;

  test('an oversized CheckRequest and 120,000 header_map entries are refused RESOURCE_EXHAUSTED before decoding, and the sidecar keeps answering', async () => {
    await withSidecar({}, async (sidecar, client) => {
      const big = await grpcCheck(client, {
        method: 'POST',
        path: '/v1/mcp-servers',
        headers: [['authorization', tokens.owner]],
        body: 'x'.repeat(4 * 1024 * 1024),
      });
      assert.equal(big.grpcError, grpc.status.RESOURCE_EXHAUSTED);
      const many = await grpcCheck(client, {
        method: 'POST',
        path: '/v1/mcp-servers',
        headerMap: Array.from({ length: 120_000 }, (_, i) => [`h${i}`, ''] as [string, string]),
      });
      assert.equal(many.grpcError, grpc.status.RESOURCE_EXHAUSTED);
      assert.equal(await health(sidecar), 200);
      const ordinary = await grpcCheck(client, {
        method: 'POST',
        path: '/v1/mcp-servers',
        headers: [
          ['authorization', tokens.owner],
          ['x-portkey-workspace-id', 'ws-1'],
        ],
      });
      assert.equal(grpcReason(ordinary), 'org_admin');
    });
  });

  test('within a larger message limit, 120,000 header_map entries are counted before any merging: 431 headers_too_large', async () => {
    await withSidecar({ bodyLimit: '4mb', bodyLimitBytes: 4 * 1024 * 1024 }, async (sidecar, client) => {
      const many = await grpcCheck(client, {
        method: 'POST',
        path: '/v1/mcp-servers',
        headerMap: Array.from({ length: 120_000 }, (_, i) => [`h${i}`, ''] as [string, string]),
      });
      assert.equal(grpcReason(many), 'headers_too_large');
      assert.ok(many.grpcError === null && many.code === 3);
      assert.equal(await health(sidecar), 200);
    });
  });

  test('more headers than HTTP takes (129) is 431 on both ports; a body over BODY_LIMIT in a Check is 400 request_too_large', async () => {
    await withSidecar({}, async (sidecar, client) => {
      const headers: [string, string][] = [
        ['authorization', tokens.owner],
        ['x-portkey-workspace-id', 'ws-1'],
        ...Array.from({ length: 127 }, (_, i) => [`x-extra-${i}`, 'v'] as [string, string]),
      ];
      assert.equal(grpcReason(await grpcCheck(client, { method: 'POST', path: '/v1/mcp-servers', headers })), 'headers_too_large');
      const http = await envoy(sidecar, 'POST', '/v1/mcp-servers', headers);
      assert.equal(http.status, 431);
      assert.equal(http.reason, 'headers_too_large');
      const body = JSON.stringify({ workspace_id: 'ws-1', pad: 'x'.repeat(70 * 1024) });
      assert.equal(
        grpcReason(await grpcCheck(client, { method: 'POST', path: '/v1/mcp-servers', headers: [['authorization', tokens.owner]], body })),
        'request_too_large',
      );
    });
  });
});

// ---- body keys --------------------------------------------------------------------------

describe('a body whose workspace key is duplicated or folded is ambiguous_workspace_id', () => {
  const bodies = [
    '{"workspace_id":"ws-1","workspace_id":"ws-of-org-2"}',
    '{"workspace_id":"ws-1","workspace_id":"ws-1"}',
    '{"workspace_id":"ws-1","WORKSPACE_ID":"ws-of-org-2"}',
    '{"Workspace_Id":"ws-of-org-2","workspace_id":"ws-1"}',
    '{"workspace_id":"ws-1","workſpace_id":"ws-of-org-2"}',
    '{"ｗｏｒｋｓｐａｃｅ_ｉｄ":"ws-of-org-2","workspace_id":"ws-1"}',
    '{"WORKSPACE_ID":"ws-of-org-2"}',
    '{"workspace_id":"ws-1","workspace\\u005fid":"ws-of-org-2"}',
    // naming strategies: a camelCase or kebab-case binder reads these as workspace_id
    '{"workspace_id":"ws-1","workspaceId":"ws-of-org-2"}',
    '{"workspace-id":"ws-of-org-2","workspace_id":"ws-1"}',
    // characters that do not show: a dotted capital I, NUL, BOM, zero-width space
    '{"workspace_id":"ws-1","workspace_\u0130d":"ws-of-org-2"}',
    '{"workspace_id":"ws-1","workspace_id\\u0000":"ws-of-org-2"}',
    '{"workspace_id":"ws-1","\ufeffworkspace_id":"ws-of-org-2"}',
    '{"workspace_id":"ws-1","workspace\u200b_id":"ws-of-org-2"}',
  ];

  test('over HTTP (Envoy with_request_body) and gRPC', async () => {
    await withSidecar({}, async (sidecar, client) => {
      for (const body of bodies) {
        const http = await envoy(
          sidecar,
          'POST',
          '/v1/mcp-servers',
          [
            ['authorization', tokens.manager],
            ['content-type', 'application/json'],
          ],
          body,
        );
        assert.equal(http.status, 403, body);
        assert.equal(http.reason, 'ambiguous_workspace_id', body);
        assert.equal(
          grpcReason(await grpcCheck(client, { method: 'POST', path: '/v1/mcp-servers', headers: [['authorization', tokens.manager]], body })),
          'ambiguous_workspace_id',
          body,
        );
      }
      // Other keys may repeat or fold; the workspace key spelled once is read.
      const fine = await envoy(
        sidecar,
        'POST',
        '/v1/mcp-servers',
        [['authorization', tokens.owner]],
        '{"workspace_id":"ws-1","name":"a","NAME":"b","name":"c"}',
      );
      assert.equal(fine.status, 200);
      const deep = await envoy(
        sidecar,
        'POST',
        '/v1/mcp-servers',
        [['authorization', tokens.owner]],
        `{"workspace_id":"ws-1","x":${'['.repeat(5000)}${']'.repeat(5000)}}`,
      );
      assert.equal(deep.status, 403);
      assert.equal(deep.reason, 'invalid_body');
    });
  });
});

// ---- claim text in headers --------------------------------------------------------------

describe('claim text a header cannot carry', () => {
  const refusedOnBothPorts = async (sidecar: RunningSidecar, client: CheckClient, workspaceRoles: Record<string, string>) => {
    const token = `Bearer ${await signToken({ ...PRINCIPALS.manager, workspace_roles: workspaceRoles })}`;
    const http = await envoy(sidecar, 'POST', '/v1/mcp-servers', [
      ['authorization', token],
      ['x-portkey-workspace-id', 'ws-1'],
    ]);
    assert.equal(http.status, 401, JSON.stringify(workspaceRoles));
    assert.equal(http.reason, 'invalid_claims');
    assert.equal(http.headers['www-authenticate'], 'Bearer error="invalid_token", error_description="invalid_claims; see the response body"');
    assert.equal(JSON.parse(http.body).code, 'invalid_claims');
    const rpc = await grpcCheck(client, {
      method: 'POST',
      path: '/v1/mcp-servers',
      headers: [
        ['authorization', token],
        ['x-portkey-workspace-id', 'ws-1'],
      ],
    });
    assert.equal(grpcReason(rpc), 'invalid_claims');
    assert.ok(rpc.grpcError === null && /^[\x20-\x7e]*$/.test(rpc.headers['www-authenticate']!));
  };

  test('a bad workspace-role claim whose workspace id has CR/LF or non-Latin-1 text is 401 invalid_claims, not 500 (HTTP and gRPC)', async () => {
    await withSidecar({}, async (sidecar, client) => {
      await refusedOnBothPorts(sidecar, client, { 'ws\r\nx-injected: 1': 'superuser' });
      await refusedOnBothPorts(sidecar, client, { '工作区-1': 'superuser' });
    });
  });

  test('a workspace id with CR/LF in a role claim is refused by the shared id rule (src/ids.ts), even with a valid role', async () => {
    await withSidecar({}, async (sidecar, client) => {
      await refusedOnBothPorts(sidecar, client, { 'ws\r\n1': 'manager' });
    });
  });
});

// ---- which headers describe the original request (FORWARD_AUTH_HEADERS) -----------------

describe('forward-auth headers: one family per deployment, no second description', () => {
  // A member may read and never write: a write decided as a read would be allowed.
  const caddy = (sidecar: RunningSidecar, method: string, uri: string, headers: [string, string][]) =>
    envoy(sidecar, 'GET', '', [
      ['x-forwarded-method', method],
      ['x-forwarded-uri', uri],
      ['x-forwarded-host', 'api.example'],
      ['x-forwarded-proto', 'http'],
      ...headers,
    ]);

  const refusedBeforeTheDecision = (answer: Answer, reason: string) => {
    assert.deepEqual([answer.status, answer.reason, answer.decisionId], [403, reason, null]);
    assert.equal(JSON.parse(answer.body).data.errorCode, 'AB03');
  };

  test('forwarded: X-Forwarded-Method/-Uri decide, recorded with the request; a write is a write', async () => {
    const sidecar = await listeningSidecar({ forwardAuthHeaders: 'forwarded' });
    try {
      const read = await caddy(sidecar, 'GET', '/v1/mcp-servers?workspace_id=ws-1', [['authorization', tokens.member]]);
      assert.deepEqual([read.status, read.reason], [200, 'workspace_read']);
      const write = await caddy(sidecar, 'POST', '/v1/mcp-servers?workspace_id=ws-1', [['authorization', tokens.member]]);
      assert.deepEqual([write.status, write.reason], [403, 'read_only_role']);
      const recorded = await sidecar.sidecar.audit.getDecision(write.decisionId!);
      assert.equal(recorded?.action, 'create');
      assert.equal(recorded?.gatewayRequest?.method, 'POST');
      assert.equal(recorded?.gatewayRequest?.headers['x-forwarded-method'], 'POST');
      assert.equal(recorded?.gatewayRequest?.headers['x-forwarded-uri'], '/v1/mcp-servers');
      assert.equal(recorded?.gatewayRequest?.headers['x-forwarded-host'], 'api.example');
    } finally {
      await sidecar.close();
    }
  });

  test("forwarded: a client's X-Original-Method/-URI passed through by the gateway is forged_original_request, also for the owner", async () => {
    const sidecar = await listeningSidecar({ forwardAuthHeaders: 'forwarded' });
    try {
      for (const who of [tokens.member, tokens.owner]) {
        for (const spoof of [
          [
            ['X-Original-Method', 'GET'],
            ['X-Original-URI', '/v1/mcp-servers?workspace_id=ws-1'],
          ],
          [['x-original-method', 'GET']],
          [['X-ORIGINAL-URI', '/v1/mcp-servers']],
        ] as [string, string][][]) {
          refusedBeforeTheDecision(
            await caddy(sidecar, 'DELETE', '/v1/mcp-servers/s-1?workspace_id=ws-1', [['authorization', who], ...spoof]),
            'forged_original_request',
          );
        }
      }
      // nginx's headers cannot stand in for the ones Caddy and Traefik set.
      const nginxForm = await nginx(sidecar, 'GET', '/v1/mcp-servers?workspace_id=ws-1', [['authorization', tokens.member]]);
      refusedBeforeTheDecision(nginxForm, 'forged_original_request');
    } finally {
      await sidecar.close();
    }
  });

  test("original (the default): a client's X-Forwarded-Method/-Uri passed through nginx is forged_original_request; X-Forwarded-Host/-Proto are not", async () => {
    const sidecar = await listeningSidecar();
    try {
      for (const spoof of [[['X-Forwarded-Method', 'GET']], [['X-Forwarded-Uri', '/v1/mcp-servers']]] as [string, string][][]) {
        refusedBeforeTheDecision(
          await nginx(sidecar, 'POST', '/v1/mcp-servers?workspace_id=ws-1', [['authorization', tokens.owner], ...spoof]),
          'forged_original_request',
        );
      }
      const behindBalancer = await nginx(sidecar, 'POST', '/v1/mcp-servers?workspace_id=ws-1', [
        ['authorization', tokens.member],
        ['X-Forwarded-Host', 'api.example'],
        ['X-Forwarded-Proto', 'https'],
      ]);
      assert.deepEqual([behindBalancer.status, behindBalancer.reason], [403, 'read_only_role']);
    } finally {
      await sidecar.close();
    }
  });

  test('a repeated method header, or a gateway asking with a method the header contradicts, is conflicting_original_request', async () => {
    const sidecar = await listeningSidecar({ forwardAuthHeaders: 'forwarded' });
    try {
      refusedBeforeTheDecision(
        await caddy(sidecar, 'POST', '/v1/mcp-servers?workspace_id=ws-1', [
          ['authorization', tokens.owner],
          ['x-forwarded-method', 'GET'],
        ]),
        'conflicting_original_request',
      );
      refusedBeforeTheDecision(
        await caddy(sidecar, 'GET', '/v1/mcp-servers?workspace_id=ws-1', [
          ['authorization', tokens.owner],
          ['X-Forwarded-Uri', '/v1/integrations'],
        ]),
        'conflicting_original_request',
      );
      const askedWithDelete = await envoy(sidecar, 'DELETE', '', [
        ['authorization', tokens.owner],
        ['x-forwarded-method', 'GET'],
        ['x-forwarded-uri', '/v1/mcp-servers?workspace_id=ws-1'],
      ]);
      refusedBeforeTheDecision(askedWithDelete, 'conflicting_original_request');
    } finally {
      await sidecar.close();
    }
  });

  test('the header modes refuse the Envoy path form (nginx or Caddy pointed at /ext_authz$request_uri asks with GET for a write): ext_authz_form_refused, never decided as a read', async () => {
    for (const family of ['forwarded', 'original'] as const) {
      const sidecar = await listeningSidecar({ forwardAuthHeaders: family });
      const [methodHeader, uriHeader] = family === 'forwarded' ? ['X-Forwarded-Method', 'X-Forwarded-Uri'] : ['X-Original-Method', 'X-Original-URI'];
      try {
        // What nginx sends for a member's POST: a GET, no method header at all.
        refusedBeforeTheDecision(
          await envoy(sidecar, 'GET', '/v1/mcp-servers?workspace_id=ws-1', [['authorization', tokens.member]]),
          'ext_authz_form_refused',
        );
        refusedBeforeTheDecision(
          await envoy(sidecar, 'GET', '/v1/mcp-servers?workspace_id=ws-1', [
            ['authorization', tokens.member],
            [methodHeader, 'POST'],
            [uriHeader, '/v1/mcp-servers?workspace_id=ws-1'],
          ]),
          'ext_authz_form_refused',
        );
        refusedBeforeTheDecision(
          await envoy(sidecar, 'POST', '/v1/mcp-servers?workspace_id=ws-1', [['authorization', tokens.owner]]),
          'ext_authz_form_refused',
        );
      } finally {
        await sidecar.close();
      }
    }
  });

  test('envoy refuses the header form; a real Envoy GET and POST are decided as themselves', async () => {
    const sidecar = await listeningSidecar({ forwardAuthHeaders: 'envoy' });
    try {
      refusedBeforeTheDecision(await nginx(sidecar, 'POST', '/v1/mcp-servers?workspace_id=ws-1', [['authorization', tokens.owner]]), 'ext_authz_form_refused');
      const read = await envoy(sidecar, 'GET', '/v1/mcp-servers?workspace_id=ws-1', [['authorization', tokens.member]]);
      assert.deepEqual([read.status, read.reason], [200, 'workspace_read']);
      const write = await envoy(sidecar, 'POST', '/v1/mcp-servers?workspace_id=ws-1', [['authorization', tokens.member]]);
      assert.deepEqual([write.status, write.reason], [403, 'read_only_role']);
    } finally {
      await sidecar.close();
    }
  });

  test('envoy with a header family: a path-form GET or HEAD carrying X-Original-* or X-Forwarded-Method/-Uri is ext_authz_form_refused; without them it is decided', async () => {
    for (const mode of ['envoy,original', 'envoy,forwarded'] as const) {
      const sidecar = await listeningSidecar({ forwardAuthHeaders: mode });
      try {
        for (const method of ['GET', 'HEAD']) {
          for (const sign of [
            ['X-Original-Method', 'POST'],
            ['x-original-uri', '/v1/mcp-servers'],
            ['X-Original-Host', 'api.example'],
            ['X-Forwarded-Method', 'GET'],
            ['X-Forwarded-Uri', '/v1/mcp-servers?workspace_id=ws-1'],
          ] as [string, string][]) {
            const answer = await envoy(sidecar, method, '/v1/mcp-servers?workspace_id=ws-1', [['authorization', tokens.member], sign]);
            assert.deepEqual([answer.status, answer.reason, answer.decisionId], [403, 'ext_authz_form_refused', null], `${mode} ${method} ${sign[0]}`);
          }
        }
        const read = await envoy(sidecar, 'GET', '/v1/mcp-servers?workspace_id=ws-1', [['authorization', tokens.member]]);
        assert.deepEqual([read.status, read.reason], [200, 'workspace_read'], mode);
        const envoyWrite = await envoy(sidecar, 'POST', '/v1/mcp-servers?workspace_id=ws-1', [['authorization', tokens.member]]);
        assert.deepEqual([envoyWrite.status, envoyWrite.reason], [403, 'read_only_role'], mode);
      } finally {
        await sidecar.close();
      }
    }
  });

  test('hostile values in the forwarded headers are refused with a 4xx that names them, never a 5xx or an allow', async () => {
    const sidecar = await listeningSidecar({ forwardAuthHeaders: 'forwarded' });
    try {
      const cases: [string, string, number, string | null][] = [
        ['', '/v1/mcp-servers?workspace_id=ws-1', 403, 'no_route'],
        ['G\u00c9T', '/v1/mcp-servers?workspace_id=ws-1', 403, 'no_route'],
        ['GET', 'http://evil.example/v1/mcp-servers?workspace_id=ws-1', 403, 'invalid_path'],
        ['GET', '*', 403, 'invalid_path'],
        ['GET', '/v1/mcp-servers/..%2f..%2fadmin?workspace_id=ws-1', 403, 'invalid_path'],
        // Beyond the HTTP server's own head limit: refused before the sidecar reads it.
        ['GET', `/v1/mcp-servers?workspace_id=ws-1&pad=${'x'.repeat(20_000)}`, 431, null],
      ];
      for (const [method, uri, status, reason] of cases) {
        const answer = await caddy(sidecar, method, uri, [['authorization', tokens.owner]]);
        assert.deepEqual([answer.status, answer.reason], [status, reason], `${JSON.stringify(method)} ${uri.slice(0, 60)}`);
      }
    } finally {
      await sidecar.close();
    }
  });

  test('FORWARD_AUTH_HEADERS with another value stops the sidecar from starting, naming the variable', async () => {
    for (const bad of ['x-forwarded', 'original,forwarded', 'envoy,envoy', ''])
      await assert.rejects(listeningSidecar({ forwardAuthHeaders: bad }), /FORWARD_AUTH_HEADERS/);
  });
});
