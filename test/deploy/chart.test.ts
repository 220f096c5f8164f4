// The Helm chart (deploy/helm/portcullis), as `make chart-check` runs it: `helm lint`, then
// `helm template` of both modes, every rendered object decoded strictly into Kubernetes'
// own Go types by tools/k8scheck (an unknown or misplaced field fails), and what the
// objects must say: probes, the drain, the security context, tokens from a Secret.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadAll } from 'js-yaml';

const run = promisify(execFile);
const CHART = 'deploy/helm/portcullis';
const HELM = process.env.HELM ?? '.cache/bin/helm';
const K8SCHECK = process.env.K8SCHECK ?? '.cache/bin/k8scheck';

const MODES: Record<string, string[]> = {
  standalone: [
    '--set',
    'redis.url=redis://redis:6379',
    '--set',
    'adminTokens.adminToken=x',
    '--set',
    'serviceMonitor.enabled=true',
    '--set',
    'tls.secretName=portcullis-tls',
  ],
  sidecar: [
    '--set',
    'mode=sidecar',
    '--set',
    'app.image=example/app:1',
    '--set',
    'app.ports[0].name=http',
    '--set',
    'app.ports[0].containerPort=8080',
    '--set',
    'app.servicePorts[0].name=http',
    '--set',
    'app.servicePorts[0].port=80',
    '--set',
    'app.servicePorts[0].targetPort=http',
    '--set',
    'routes=routes: []',
  ],
};

async function render(args: string[]): Promise<string> {
  const { stdout } = await run(HELM, ['template', 'portcullis', CHART, ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** k8scheck over a manifest stream: its exit code and output. */
function k8scheck(manifests: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(K8SCHECK, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
    child.stdin.end(manifests);
  });
}

type Obj = { kind: string; metadata: { name: string }; spec: Record<string, any> };

test('helm lint passes for both modes', async () => {
  for (const [mode, args] of Object.entries(MODES)) {
    const { stdout } = await run(HELM, ['lint', '--strict', CHART, ...args]);
    assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/, mode);
  }
});

test('every object of both modes decodes strictly into the Kubernetes types', async () => {
  for (const [mode, args] of Object.entries(MODES)) {
    const { code, output } = await k8scheck(await render(args));
    assert.equal(code, 0, `${mode}:\n${output}`);
    assert.match(output, /ok {3}apps\/v1\/Deployment portcullis/);
    assert.doesNotMatch(output, /FAIL/);
  }
});

test('a misspelt field, a misplaced one, a wrong type or an unknown kind fails the check', async () => {
  const good = await render(MODES.standalone!);
  const broken = {
    misspelt: good.replace('readOnlyRootFilesystem: true', 'readOnlyRootFilesytem: true'),
    misplaced: good.replace('terminationGracePeriodSeconds:', 'terminationGracePeriod:'),
    wrongType: good.replace('replicas: 2', 'replicas: "two"'),
    unknownKind: `${good}\n---\napiVersion: v1\nkind: Pods\nmetadata: {name: x}\n`,
  };
  for (const [what, manifests] of Object.entries(broken)) {
    assert.notEqual(manifests, good, `${what}: the replacement must change the manifests`);
    const { code, output } = await k8scheck(manifests);
    assert.equal(code, 1, `${what}:\n${output}`);
    assert.match(output, /FAIL /, what);
  }
  assert.match((await k8scheck(broken.misspelt)).output, /FAIL apps\/v1\/Deployment portcullis: .*unknown field "readOnlyRootFilesytem"/);
});

test('the pod: probes on /health and /health/ready, a drain that fits the grace period, locked down, tokens from the Secret', async () => {
  for (const [mode, args] of Object.entries(MODES)) {
    const objects = loadAll(await render(args)).filter(Boolean) as Obj[];
    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    const pod = deployment.spec.template.spec;
    const container = pod.containers.find((c: { name: string }) => c.name === 'portcullis');
    assert.equal(container.livenessProbe.httpGet.path, '/health', mode);
    assert.equal(container.readinessProbe.httpGet.path, '/health/ready', mode);
    assert.deepEqual(container.securityContext.capabilities, { drop: ['ALL'] });
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.runAsNonRoot, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    const env = Object.fromEntries(container.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e.value ?? e.valueFrom]));
    assert.deepEqual(env.ADMIN_TOKEN, { secretKeyRef: { name: 'portcullis-admin-tokens', key: 'adminToken', optional: true } });
    assert.equal(env.PORTCULLIS_PROFILE, 'production');
    // preStop, then the whole drain, must end before the kubelet's SIGKILL.
    const drainSeconds = Number(env.SHUTDOWN_TIMEOUT_MS) / 1000;
    assert.ok(pod.terminationGracePeriodSeconds > container.lifecycle.preStop.sleep.seconds + drainSeconds, mode);
    assert.ok(
      objects.some((o) => o.kind === 'PodDisruptionBudget'),
      mode,
    );
    assert.ok(
      objects.some((o) => o.kind === 'ConfigMap'),
      mode,
    );
    if (mode === 'sidecar') {
      assert.deepEqual(
        pod.containers.map((c: { name: string }) => c.name),
        ['app', 'portcullis'],
      );
      const services = objects.filter((o) => o.kind === 'Service');
      // The application's Service exposes the application only; the admin surface has its own.
      assert.deepEqual(
        services.find((s) => s.metadata.name === 'portcullis')!.spec.ports.map((p: { port: number }) => p.port),
        [80],
      );
    } else {
      assert.equal(container.readinessProbe.httpGet.scheme, 'HTTPS');
      assert.equal(env.REDIS_URL, 'redis://redis:6379');
    }
  }
});

test('a mode the chart does not know is refused by helm template, naming it', async () => {
  await assert.rejects(render(['--set', 'mode=daemonset']), /mode must be standalone or sidecar, got "daemonset"/);
  await assert.rejects(render(['--set', 'mode=sidecar']), /sidecar mode needs app.image/);
});
