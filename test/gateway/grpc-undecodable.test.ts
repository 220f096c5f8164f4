// A CheckRequest whose bytes are not a CheckRequest is the client's fault: INVALID_ARGUMENT,
// never INTERNAL (an Envoy with failure_mode_allow treats a server failure as an allow).
// Sent as raw bytes through a generic grpc-js client, so nothing on the client side can
// refuse them first.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { listeningSidecar, type RunningSidecar } from './support.ts';

const METHOD = '/envoy.service.auth.v3.Authorization/Check';

type RawClient = grpc.Client & { Check(request: Buffer, callback: (error: grpc.ServiceError | null, response?: Buffer) => void): void };

let sidecar: RunningSidecar;
let client: RawClient;

before(async () => {
  sidecar = await listeningSidecar();
  const port = await sidecar.sidecar.grpc.listen('127.0.0.1', 0);
  const Client = grpc.makeGenericClientConstructor(
    {
      Check: {
        path: METHOD,
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    'Authorization',
  );
  client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as RawClient;
});
after(async () => {
  client?.close();
  await sidecar?.close();
});

function send(bytes: Buffer): Promise<{ code: number; details: string } | { response: Buffer }> {
  return new Promise((resolve) => {
    client.Check(bytes, (error, response) => resolve(error ? { code: error.code, details: error.details } : { response: response! }));
  });
}

const UNDECODABLE: Record<string, Buffer> = {
  'an invalid wire type': Buffer.from([0x0f]),
  'a length past the end of the message': Buffer.from([0x0a, 0xff, 0x01, 0x00]),
  'a truncated varint': Buffer.from([0x08, 0xff, 0xff]),
  'random bytes': Buffer.from('ffffffffffffffffffffffff07', 'hex'),
};

for (const [name, bytes] of Object.entries(UNDECODABLE)) {
  test(`${name} is INVALID_ARGUMENT, naming the decoding failure`, async () => {
    const answer = await send(bytes);
    assert.ok('code' in answer, 'answered as if it were a CheckRequest');
    assert.equal(answer.code, grpc.status.INVALID_ARGUMENT, `got ${grpc.status[answer.code]}: ${answer.details}`);
    assert.match(answer.details, /^the CheckRequest cannot be decoded: /);
  });
}

test('after undecodable messages, a well-formed (empty) CheckRequest is still answered with a CheckResponse', async () => {
  for (const bytes of Object.values(UNDECODABLE)) await send(bytes);
  const answer = await send(Buffer.alloc(0));
  assert.ok('response' in answer, `a gRPC error instead of a CheckResponse: ${JSON.stringify(answer)}`);
  assert.ok(answer.response.length > 0);
});
