// Decisions of API keys in the audit trail, on memory, Redis and a Redis Cluster: a key
// principal is recorded by its id and type; the query API filters by keyId and keyType (with
// the other filters, the unverified bucket included), and so does the CLI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { DecisionRecord } from '../../src/decision/record.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN } from '../support/sidecar.ts';
import { bothStores } from '../support/stores.ts';
import { decisionRecord } from './records.ts';

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const kinds = bothStores();

/** A record of a key principal (as the decider records the decision request's principal). */
function keyRecord(keyId: string, keyType: string, over: Parameters<typeof decisionRecord>[0] = {}): DecisionRecord {
  const record = decisionRecord({ principalId: keyId, ...over });
  const principal = { type: 'api_key', keyType, id: keyId, orgId: record.orgId, workspaceId: record.workspaceId, scopes: ['mcp_servers.create'] };
  return { ...record, principal, input: { ...record.input, principal } } as unknown as DecisionRecord;
}

function portcullis(args: string[], url: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/portcullis.mjs', ...args],
      { env: { PATH: process.env.PATH, ADMIN_TOKEN, PORTCULLIS_URL: url } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

for (const kind of kinds) {
  describe(`audit of key principals (${kind.name})`, () => {
    let sidecar: Sidecar;
    let server: Server;
    let url: string;
    const ids: Record<string, string> = {};
    before(async () => {
      sidecar = await kind.make();
      server = createServer(sidecar.app).listen(0, '127.0.0.1');
      await once(server, 'listening');
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const records = {
        service: keyRecord('key-aaaaaaaaaaaaaaaaaaaaaaaa', 'workspace-service', { allow: false, reason: 'missing_scope' }),
        user: keyRecord('key-bbbbbbbbbbbbbbbbbbbbbbbb', 'workspace-user'),
        admin: keyRecord('key-cccccccccccccccccccccccc', 'organisation-service'),
        person: decisionRecord({ principalId: 'key-aaaaaaaaaaaaaaaaaaaaaaaa' }),
        unverified: { ...keyRecord('key-dddddddddddddddddddddddd', 'workspace-user', { workspaceId: 'ws-nowhere' }), orgUnverified: true as const },
      };
      for (const [name, record] of Object.entries(records)) {
        ids[name] = record.decisionId;
        sidecar.audit.record(record);
      }
      await sidecar.audit.flush();
    });
    after(async () => {
      server?.closeAllConnections();
      server?.close();
      await sidecar?.close();
    });

    const query = async (q: string) =>
      (await request(sidecar.app).get(`/v1/audit/decisions?orgId=org-a&${q}`).set(auth).expect(200)).body.decisions
        .map((d: DecisionRecord) => d.decisionId)
        .sort();

    test('keyId finds the decisions of that key only (not a person whose id looks the same)', async () => {
      assert.deepEqual(await query('keyId=key-aaaaaaaaaaaaaaaaaaaaaaaa'), [ids.service]);
      assert.deepEqual(await query('principalId=key-aaaaaaaaaaaaaaaaaaaaaaaa'), [ids.person, ids.service].sort());
      assert.deepEqual(await query('keyId=key-eeeeeeeeeeeeeeeeeeeeeeee'), []);
    });

    test('keyType finds the decisions of keys of that type, with the other filters', async () => {
      assert.deepEqual(await query('keyType=workspace-user'), [ids.user]);
      assert.deepEqual(await query('keyType=organisation-service'), [ids.admin]);
      assert.deepEqual(await query('keyType=workspace-service&allow=false'), [ids.service]);
      assert.deepEqual(await query('keyType=workspace-service&allow=true'), []);
      assert.deepEqual(await query('keyType=workspace-user&unverified=true'), [ids.unverified]);
      assert.deepEqual(await query('keyId=key-dddddddddddddddddddddddd&unverified=true'), [ids.unverified]);
    });

    test('the record shows the key principal by id and type', async () => {
      const record = (await request(sidecar.app).get(`/v1/audit/decisions/${ids.service}`).set(auth).expect(200)).body;
      assert.deepEqual(
        [record.principal.type, record.principal.keyType, record.principal.id],
        ['api_key', 'workspace-service', 'key-aaaaaaaaaaaaaaaaaaaaaaaa'],
      );
    });

    test('a bad keyType or keyId is a 400 naming it', async () => {
      const bad = await request(sidecar.app).get('/v1/audit/decisions?orgId=org-a&keyType=service').set(auth).expect(400);
      assert.equal(bad.body.errors[0].field, 'keyType');
      assert.match(bad.body.message, /organisation-service, workspace-service, workspace-user/);
      assert.equal((await request(sidecar.app).get('/v1/audit/decisions?orgId=org-a&keyId=%00').set(auth).expect(400)).body.errors[0].field, 'keyId');
    });

    test('the CLI filters by --key-id and --key-type', async () => {
      const byType = await portcullis(['audit', 'query', '--org', 'org-a', '--key-type', 'organisation-service', '--format', 'ndjson'], url);
      assert.equal(byType.code, 0, byType.stderr);
      assert.deepEqual(
        byType.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line).decisionId),
        [ids.admin],
      );
      const byId = await portcullis(['audit', 'query', '--org', 'org-a', '--key-id', 'key-bbbbbbbbbbbbbbbbbbbbbbbb', '--format', 'ndjson'], url);
      assert.deepEqual(
        byId.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line).decisionId),
        [ids.user],
      );
      const wrong = await portcullis(['audit', 'query', '--org', 'org-a', '--key-type', 'admin'], url);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /--key-type admin: expected one of organisation-service, workspace-service, workspace-user/);
    });
  });
}
