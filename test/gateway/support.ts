// Shared by the gateway tests: a sidecar listening on a free port with an HS256 key,
// real signed tokens for the principals the tests need, and for the end-to-end tests a
// real gateway process and an upstream that records what the gateway let through.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { SignJWT, type JWTPayload } from 'jose';
import type { Config } from '../../src/config.ts';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN, registerWorkspaces, testSidecar } from '../support/sidecar.ts';

export const JWT_SECRET = 'portcullis-test-secret-of-at-least-32-bytes';
const KEY = new TextEncoder().encode(JWT_SECRET);

export const PRINCIPALS = {
  manager: { sub: 'u-manager', org_id: 'org-1', org_role: 'member', workspace_roles: { 'ws-1': 'manager' } },
  member: { sub: 'u-member', org_id: 'org-1', org_role: 'member', workspace_roles: { 'ws-1': 'member' } },
  owner: { sub: 'u-owner', org_id: 'org-1', org_role: 'owner', workspace_roles: {} },
} satisfies Record<string, JWTPayload>;

/** An HS256 token for `claims`, valid for five minutes unless `expiresAt` says otherwise. */
export function signToken(claims: JWTPayload, options: { key?: Uint8Array; expiresAt?: number | string } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(options.expiresAt ?? '5m')
    .sign(options.key ?? KEY);
}

export interface RunningSidecar {
  sidecar: Sidecar;
  url: string;
  close(): Promise<void>;
}

/** Workspaces the workspace directory knows in every test sidecar: the gateway decides only on these. */
export const WORKSPACES = { 'ws-1': 'org-1', 'ws-of-org-2': 'org-2' } as const;

export async function listeningSidecar(overrides: Partial<Config> = {}): Promise<RunningSidecar> {
  const sidecar = await testSidecar({ gatewayJwtSecret: JWT_SECRET, ...overrides });
  await registerWorkspaces(sidecar, WORKSPACES);
  const server: Server = createServer(sidecar.app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    sidecar,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await sidecar.close();
    },
  };
}

/** A request that reached the upstream behind a gateway. */
/** org-1's "Managers Write MCP Servers" through the settings API of the sidecar at `url`. */
export async function setMcpServers(url: string, value: boolean): Promise<void> {
  const res = await fetch(`${url}/v1/orgs/org-1/settings/integration-access`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ managersWriteMcpServers: value }),
  });
  if (res.status !== 200) throw new Error(`setting managersWriteMcpServers answered ${res.status}: ${await res.text()}`);
}

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** The API behind a gateway: answers every request 201 and records it in `seen`. */
export async function recordingUpstream(): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    req.resume();
    res.writeHead(201, { 'content-type': 'application/json' }).end('{"success":true}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface GatewayProcess {
  child: ChildProcess;
  /** What it wrote to stdout and stderr so far. */
  output(): string;
  /** `signal` (its graceful stop), SIGKILL when it has not exited 10 s later. */
  stop(): Promise<void>;
}

async function portOpen(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  try {
    await Promise.race([once(socket, 'connect'), once(socket, 'error').then(([error]) => Promise.reject(error))]);
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

/**
 * Starts a gateway (nginx, Caddy) and resolves once it accepts connections on `port`
 * (neither has another readiness signal); rejects with its output when it exits first or
 * is not listening within a minute.
 */
export async function startGatewayProcess(
  command: string,
  args: string[],
  port: number,
  options: { env?: NodeJS.ProcessEnv; signal: NodeJS.Signals },
): Promise<GatewayProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(options.env ? { env: options.env } : {}) });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  let problem: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      problem ??= `exited (${code ?? signal})`;
      resolve();
    });
    // Not started at all (not installed): there is no process to wait for.
    child.once('error', (error) => {
      problem ??= `could not start: ${error.message}`;
      resolve();
    });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    child.kill(options.signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 60_000;
  while (problem === undefined && !(await portOpen(port))) {
    if (Date.now() > deadline) problem = 'not listening after 60 s';
    else await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (problem !== undefined) {
    await stop();
    throw new Error(`${command} ${problem}:\n${output}`);
  }
  return { child, output: () => output, stop };
}
