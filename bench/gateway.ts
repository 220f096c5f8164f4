// `make bench-gateway`: requests/s and latency through the gateway endpoints of a
// sidecar started as its own process (`src/main.ts`, in-memory settings from
// examples/settings.yaml, HS256 tokens): Envoy HTTP ext_authz with autocannon, and gRPC
// Check with a bounded load loop (a fixed number of calls in flight for a fixed time).
// Every request is one that is allowed, because autocannon records latency of 2xx only;
// each verifies a JWT, matches a route and decides. Figures are printed, never asserted.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import autocannon from 'autocannon';
import { freePort } from '../test/support/redis.ts';
import { gatewayCalls, JWT_SECRET, type GatewayCall as Call } from './gateway-calls.ts';

const DURATION_S = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);

interface Row {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function http(base: string, mix: Call[]): Promise<Row> {
  const requests = mix.map((c) => ({ method: c.method as 'GET', path: `/ext_authz${c.path}`, headers: c.headers }));
  const result = await autocannon({ url: base, connections: CONNECTIONS, duration: DURATION_S, requests });
  return {
    name: 'HTTP ext_authz',
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

async function grpcCheck(address: string, mix: Call[]): Promise<Row> {
  const definition = protoLoader.loadSync(fileURLToPath(new URL('../src/gateway/envoy/ext_authz.proto', import.meta.url)), {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const { Authorization } = (
    grpc.loadPackageDefinition(definition) as unknown as { envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } } }
  ).envoy.service.auth.v3;
  const client = new Authorization(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Check(request: unknown, callback: (error: grpc.ServiceError | null, response: { status: { code: number } }) => void): void;
  };
  const check = (call: Call) =>
    new Promise<boolean>((resolve) =>
      // The proto declares Envoy's header map as its repeated entries (wire-identical).
      client.Check(
        {
          attributes: {
            request: { http: { method: call.method, path: call.path, headers: Object.entries(call.headers).map(([key, value]) => ({ key, value })) } },
          },
        },
        (error, response) => resolve(!error && response.status.code === 0),
      ),
    );
  for (const call of mix) await check(call);

  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + DURATION_S * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, worker) => {
      for (let i = worker; performance.now() < deadline; i++) {
        const started = performance.now();
        if (await check(mix[i % mix.length]!)) latencies.push(performance.now() - started);
        else errors++;
      }
    }),
  );
  client.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { name: 'gRPC Check', rps: latencies.length / DURATION_S, p50: at(0.5), p99: at(0.99), errors };
}

async function main(): Promise<void> {
  const [port, grpcPort] = [await freePort(), await freePort()];
  const sidecar = spawn('node', ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      GRPC_PORT: String(grpcPort),
      GATEWAY_JWT_SECRET: JWT_SECRET,
      LOG_LEVEL: 'warn',
      ADMIN_TOKEN: 'bench',
      FORWARD_AUTH_HEADERS: 'envoy',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      if (sidecar.exitCode !== null) throw new Error(`the sidecar exited with ${sidecar.exitCode}`);
      if (
        await fetch(`${base}/health`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (i > 300) throw new Error('the sidecar did not come up');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The gateways take a workspace's organization from the workspace directory.
    const registered = await fetch(`${base}/v1/orgs/org-1/workspaces/ws-1`, { method: 'PUT', headers: { authorization: 'Bearer bench' } });
    if (!registered.ok) throw new Error(`registering ws-1: ${registered.status} ${await registered.text()}`);
    const mix = await gatewayCalls();
    const rows = [await http(base, mix), await grpcCheck(`127.0.0.1:${grpcPort}`, mix)];
    console.log(`gateway, ${CONNECTIONS} connections / calls in flight, ${DURATION_S}s each, sidecar in its own process`);
    console.log('endpoint          req/s     p50 ms   p99 ms   errors');
    for (const r of rows) {
      console.log(
        `${r.name.padEnd(16)} ${r.rps.toFixed(0).padStart(7)} ${r.p50.toFixed(2).padStart(9)} ${r.p99.toFixed(2).padStart(8)} ${String(r.errors).padStart(8)}`,
      );
    }
  } finally {
    sidecar.kill('SIGTERM');
  }
}

await main();
