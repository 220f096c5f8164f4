// The request line /ext_authz decides on: one header family per deployment, and every
// second description of the original request (the other family, a repeat, the request's
// own method or path) refused when it could have come from the client.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/config.ts';
import { ApiError } from '../../src/errors.ts';
import { originalRequestLine, parseForwardAuthHeaders, type ForwardAuthHeaders } from '../../src/gateway/forwardauth.ts';

type Entries = [string, string][];
const line = (family: ForwardAuthHeaders, method: string, path: string, entries: Entries) => originalRequestLine(family, { method, path }, entries);

function refused(run: () => unknown, status: number, code: string, message?: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof ApiError, String(error));
    assert.equal(error.status, status);
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    return true;
  });
}

describe('FORWARD_AUTH_HEADERS', () => {
  test('original, forwarded, envoy and envoy with one family are the values; anything else stops the start with the variable named', () => {
    assert.equal(parseForwardAuthHeaders('original'), 'original');
    assert.equal(parseForwardAuthHeaders('forwarded'), 'forwarded');
    assert.equal(parseForwardAuthHeaders('envoy'), 'envoy');
    assert.equal(parseForwardAuthHeaders('original, envoy'), 'envoy,original');
    assert.equal(parseForwardAuthHeaders('envoy,forwarded'), 'envoy,forwarded');
    for (const bad of ['', 'Forwarded', 'x-forwarded', 'both', 'original,forwarded', 'envoy,envoy', 'envoy,original,forwarded'])
      assert.throws(
        () => parseForwardAuthHeaders(bad),
        (e: unknown) => e instanceof ConfigError && /FORWARD_AUTH_HEADERS/.test(e.message),
      );
  });
});

describe('the forward-auth form (/ext_authz, the original request in headers)', () => {
  test('original: X-Original-Method and X-Original-URI, in any case, as nginx asks (GET)', () => {
    assert.deepEqual(
      line('original', 'GET', '', [
        ['X-Original-Method', 'POST'],
        ['x-original-uri', '/v1/mcp-servers?workspace_id=ws-1'],
      ]),
      {
        method: 'POST',
        path: '/v1/mcp-servers?workspace_id=ws-1',
        pathForm: false,
      },
    );
  });

  test('forwarded: X-Forwarded-Method and X-Forwarded-Uri, as Caddy and Traefik ask (GET); -Host and -Proto may come with them', () => {
    const entries: Entries = [
      ['X-Forwarded-Method', 'DELETE'],
      ['X-Forwarded-Uri', '/v1/mcp-servers/s-1'],
      ['X-Forwarded-Host', 'api.example'],
      ['X-Forwarded-Proto', 'https'],
    ];
    assert.deepEqual(line('forwarded', 'GET', '', entries), { method: 'DELETE', path: '/v1/mcp-servers/s-1', pathForm: false });
  });

  test("the other family's method or URI header is forged_original_request, whichever of the two and whatever it says", () => {
    const cases: [ForwardAuthHeaders, Entries][] = [
      [
        'forwarded',
        [
          ['X-Forwarded-Method', 'POST'],
          ['X-Forwarded-Uri', '/v1/mcp-servers'],
          ['X-Original-Method', 'GET'],
        ],
      ],
      [
        'forwarded',
        [
          ['X-Forwarded-Method', 'POST'],
          ['X-Forwarded-Uri', '/v1/mcp-servers'],
          ['x-original-uri', '/v1/mcp-servers'],
        ],
      ],
      [
        'original',
        [
          ['X-Original-Method', 'POST'],
          ['X-Original-URI', '/v1/mcp-servers'],
          ['X-Forwarded-Method', 'POST'],
        ],
      ],
      [
        'original',
        [
          ['X-Original-Method', 'POST'],
          ['X-Original-URI', '/v1/mcp-servers'],
          ['X-FORWARDED-URI', '/v1/mcp-servers'],
        ],
      ],
    ];
    for (const [family, entries] of cases) refused(() => line(family, 'GET', '', entries), 403, 'forged_original_request', /FORWARD_AUTH_HEADERS/);
  });

  test("the other family's Host and Proto are no description of the request line: a load balancer in front of nginx sets them", () => {
    const entries: Entries = [
      ['X-Original-Method', 'POST'],
      ['X-Original-URI', '/v1/mcp-servers'],
      ['X-Forwarded-Host', 'api.example'],
      ['X-Forwarded-Proto', 'https'],
    ];
    assert.equal(line('original', 'GET', '', entries).method, 'POST');
  });

  test('a method or URI header sent twice is conflicting_original_request, even when both copies agree (a client copy was appended)', () => {
    refused(
      () =>
        line('forwarded', 'GET', '', [
          ['X-Forwarded-Method', 'GET'],
          ['x-forwarded-method', 'POST'],
          ['X-Forwarded-Uri', '/v1/mcp-servers'],
        ]),
      403,
      'conflicting_original_request',
      /2 times/,
    );
    refused(
      () =>
        line('original', 'GET', '', [
          ['X-Original-Method', 'POST'],
          ['X-Original-URI', '/a'],
          ['X-Original-URI', '/a'],
        ]),
      403,
      'conflicting_original_request',
    );
  });

  test('asked with a method other than GET or HEAD, that method must be the one the header names', () => {
    const entries: Entries = [
      ['X-Forwarded-Method', 'GET'],
      ['X-Forwarded-Uri', '/v1/mcp-servers'],
    ];
    refused(() => line('forwarded', 'DELETE', '', entries), 403, 'conflicting_original_request', /DELETE.*"GET"/);
    // Traefik with preserveRequestMethod asks with the original method.
    assert.equal(
      line('forwarded', 'POST', '', [
        ['X-Forwarded-Method', 'POST'],
        ['X-Forwarded-Uri', '/v1/mcp-servers'],
      ]).method,
      'POST',
    );
    assert.equal(
      line('original', 'HEAD', '', [
        ['X-Original-Method', 'DELETE'],
        ['X-Original-URI', '/v1/mcp-servers/s-1'],
      ]).method,
      'DELETE',
    );
  });

  test("without its family's two headers it is a 400 naming them; the other family present is refused first", () => {
    refused(() => line('forwarded', 'GET', '', [['X-Forwarded-Method', 'POST']]), 400, 'invalid_request', /x-forwarded-method and x-forwarded-uri/);
    refused(() => line('original', 'GET', '?x=1', []), 400, 'invalid_request', /x-original-method and x-original-uri/);
    refused(
      () =>
        line('original', 'GET', '', [
          ['X-Forwarded-Method', 'POST'],
          ['X-Forwarded-Uri', '/v1/mcp-servers'],
        ]),
      403,
      'forged_original_request',
    );
  });

  test('header values reach messages quoted: CR, LF and NUL cannot shape a log line', () => {
    assert.throws(
      () =>
        line('forwarded', 'POST', '', [
          ['X-Forwarded-Method', 'GET\r\nX-Evil: 1\u0000'],
          ['X-Forwarded-Uri', '/'],
        ]),
      (e: unknown) => e instanceof ApiError && !/[\r\n\0]/.test(e.message) && e.message.includes('\\r\\n'),
    );
  });
});

describe('the Envoy path form (/ext_authz/<original path>)', () => {
  test('the header modes refuse it, whatever the method: nginx or Caddy pointed at it asks with GET for a write', () => {
    for (const mode of ['original', 'forwarded'] as const) {
      refused(() => line(mode, 'GET', '/v1/mcp-servers', []), 403, 'ext_authz_form_refused', /FORWARD_AUTH_HEADERS=/);
      refused(() => line(mode, 'POST', '/v1/mcp-servers?x=1', []), 403, 'ext_authz_form_refused');
    }
  });

  test('envoy refuses the header form', () => {
    refused(
      () =>
        line('envoy', 'GET', '', [
          ['X-Original-Method', 'POST'],
          ['X-Original-URI', '/v1/mcp-servers'],
        ]),
      403,
      'ext_authz_form_refused',
      /FORWARD_AUTH_HEADERS=envoy/,
    );
    refused(() => line('envoy', 'GET', '?x=1', []), 403, 'ext_authz_form_refused');
  });

  test('in the modes with envoy the request is the original: its own method and path', () => {
    for (const mode of ['envoy', 'envoy,original', 'envoy,forwarded'] as const) {
      assert.deepEqual(line(mode, 'POST', '/v1/mcp-servers?x=1', []), { method: 'POST', path: '/v1/mcp-servers?x=1', pathForm: true });
      assert.deepEqual(line(mode, 'GET', '/v1/mcp-servers', [['X-Forwarded-Proto', 'https']]), { method: 'GET', path: '/v1/mcp-servers', pathForm: true });
    }
  });

  test('a GET or HEAD carrying X-Original-* or X-Forwarded-Method/-Uri is refused in every mode with envoy, even when they agree', () => {
    for (const mode of ['envoy', 'envoy,original', 'envoy,forwarded'] as const) {
      for (const sign of [
        ['X-Original-Method', 'GET'],
        ['x-original-uri', '/v1/mcp-servers'],
        ['X-Original-Host', 'a'],
        ['X-Forwarded-Method', 'POST'],
        ['X-FORWARDED-URI', '/v1/mcp-servers'],
      ] as [string, string][]) {
        for (const method of ['GET', 'head'])
          refused(() => line(mode, method, '/v1/mcp-servers', [sign]), 403, 'ext_authz_form_refused', /forward-auth gateway/);
      }
    }
  });

  test('with a header family, a write in the path form is held to that family as before', () => {
    refused(() => line('envoy,original', 'POST', '/v1/mcp-servers', [['X-Original-Method', 'GET']]), 403, 'conflicting_original_request');
    refused(() => line('envoy,forwarded', 'PUT', '/v1/mcp-servers', [['X-Forwarded-Uri', '/v1/integrations']]), 403, 'conflicting_original_request');
    refused(() => line('envoy,original', 'POST', '/v1/mcp-servers', [['X-Forwarded-Method', 'POST']]), 403, 'forged_original_request');
  });
});
