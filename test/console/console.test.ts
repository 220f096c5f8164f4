// The console in a real browser (Debian's chromium via puppeteer-core), driven as a person
// does, by visible labels and roles: sign in; the Security tab's settings and what the next
// decision says about them; a workspace override; a concurrent edit; the explorer and its
// why; what-if against the replay API; the playground against /v1/authorize; a token that
// may not write; and on every page axe-core (no serious or critical violation), no CSP
// refusal and no page error. Screenshots of every page go to .cache/console/.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN, decisionRequest, serve, testSidecar } from '../support/sidecar.ts';
import { fillSignIn, launchBrowser, openPage, signIn, waitForText, checkPage, control } from './browser.ts';

const TEST_TIMEOUT = 180_000;
const hex = (token: string) => createHash('sha256').update(token).digest('hex');
const AUDITOR = 'console-auditor-secret-8c1d4e';
const READER = 'console-reader-secret-2f7a9b';

let dir: string;
let sidecar: Sidecar;
let url: string;
let close: () => Promise<void>;
let browser: Browser;
let page: Page;
let problems: string[];
const started = new Date(Date.now() - 1000).toISOString();
/** An organization of its own (the test sidecar also has examples/settings.yaml's), with all defaults. */
const ORG = 'org-ui';
const WS = 'ws-ui-1';
/** A workspace manager's create of an MCP server in WS. */
const request = () => decisionRequest({ orgId: ORG, workspaceId: WS, workspaceRoles: { [WS]: 'manager' } });

async function api(method: string, path: string, body?: unknown, token = ADMIN_TOKEN): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** The decision a test makes "with curl": straight to the public API, outside the browser. */
async function decide(input = request()) {
  const { status, body } = await api('POST', '/v1/authorize', input);
  assert.equal(status, 200);
  return body as { allow: boolean; reason: string; setting?: string; source?: string; message: string; decisionId: string };
}

/** Screenshot, axe-core and the CSP/page-error record of the page as it is now. */
/** checkPage on the test's own page unless another is given. */
const checkPageAs = (name: string, on: Page = page, seen: string[] = problems) => checkPage(on, seen, name);

async function isChecked(p: Page, name: string, within?: string): Promise<boolean> {
  const scope = within ? await p.$(`::-p-aria([name="${within}"][role="group"])`) : p;
  const handle = await scope!.$(`::-p-aria([name="${name}"][role="switch"])`);
  assert.ok(handle, `a switch named ${name}`);
  return handle.evaluate((e) => (e as HTMLInputElement).checked);
}

async function clickSwitch(p: Page, name: string, within?: string): Promise<void> {
  const scope = within ? await p.$(`::-p-aria([name="${within}"][role="group"])`) : p;
  const handle = await scope!.$(`::-p-aria([name="${name}"][role="switch"])`);
  assert.ok(handle, `a switch named ${name}`);
  await handle.click();
}

/** Waits until the workspace table's row for `label` reads `cells` (effective, source, ...). */
async function waitForRow(p: Page, workspaceId: string, label: string, expected: { effective: string; source: string }) {
  await p.waitForFunction(
    (ws, name, want) => {
      const heading = [...document.querySelectorAll('h3')].find((h) => h.textContent === `Workspace ${ws}`);
      const row = [...(heading?.closest('section')?.querySelectorAll('tr') ?? [])].find((r) => r.querySelector('th')?.textContent === name);
      const cells = [...(row?.querySelectorAll('td') ?? [])].map((td) => (td as HTMLElement).innerText.trim());
      return cells[0] === want.effective && cells[1] === want.source;
    },
    {},
    workspaceId,
    label,
    expected,
  );
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-console-ui-'));
  const tokensFile = join(dir, 'tokens.yaml');
  await writeFile(
    tokensFile,
    `tokens:
  - {name: auditor, sha256: ${hex(AUDITOR)}, scopes: [audit:read]}
  - {name: reader, sha256: ${hex(READER)}, scopes: [settings:read, audit:read]}
`,
  );
  sidecar = await testSidecar({ adminTokensFile: tokensFile });
  ({ url, close } = await serve(sidecar));
  for (const ws of [WS, 'ws-ui-2']) assert.equal((await api('PUT', `/v1/orgs/${ORG}/workspaces/${ws}`)).status < 300, true);
  browser = await launchBrowser();
  ({ page, problems } = await openPage(browser));
});

after(async () => {
  await browser?.close();
  await close?.();
  await rm(dir, { recursive: true, force: true });
});

describe('the console in chromium', { timeout: 15 * 60_000 }, () => {
  test('sign-in page, then signed in: the token is in sessionStorage only, never localStorage or the URL', { timeout: TEST_TIMEOUT }, async () => {
    await page.goto(`${url}/console/`);
    await control(page, 'textbox', 'Admin token').wait();
    await checkPageAs('sign-in');
    await signIn(page, url, ADMIN_TOKEN, `#/settings?org=${ORG}`);
    await waitForText(page, 'Signed in as admin');
    assert.ok(!page.url().includes(ADMIN_TOKEN));
    const storage = await page.evaluate(() => ({ local: JSON.stringify(localStorage), session: JSON.stringify(sessionStorage) }));
    assert.ok(!storage.local.includes(ADMIN_TOKEN), 'not in localStorage');
    assert.ok(storage.session.includes(ADMIN_TOKEN), 'in sessionStorage');
  });

  test('turning "Managers Write MCP Servers" off: the next decision is denied with source org', { timeout: TEST_TIMEOUT }, async () => {
    await page.goto(`${url}/console/#/settings?org=${ORG}&workspaceId=${WS}`);
    await control(page, 'heading', 'Integration Management').wait();
    for (const label of ['Prompt Management', 'Guardrail Management', 'Analytics Management', 'Logs Management']) await control(page, 'heading', label).wait();
    assert.equal(await isChecked(page, 'Managers Write MCP Servers'), true);
    // With the keyboard: focus the switch and press Space, as a keyboard user does.
    await (await page.$('::-p-aria([name="Managers Write MCP Servers"][role="switch"])'))!.focus();
    await page.keyboard.press('Space');
    await waitForText(page, 'Saved: Managers Write MCP Servers → Off');
    await waitForRow(page, WS, 'Managers Write MCP Servers', { effective: 'Off', source: 'org' });
    const decision = await decide();
    assert.equal(decision.allow, false);
    assert.equal(decision.setting, 'managersWriteMcpServers');
    assert.equal(decision.source, 'org');
    await checkPageAs('settings');
  });

  test('allowing workspace-level configuration and overriding a workspace: source workspace', { timeout: TEST_TIMEOUT }, async () => {
    const override = `Override Managers Write MCP Servers in ${WS}`;
    const select = await page.$(`::-p-aria([name="${override}"][role="combobox"])`);
    assert.equal(await select!.evaluate((e) => (e as HTMLSelectElement).disabled), true, 'disabled while the toggle is off');
    await clickSwitch(page, 'Allow workspace-level configuration', 'Managers Write MCP Servers');
    await waitForText(page, 'Saved: Managers Write MCP Servers: Allow workspace-level configuration → On');
    await page.waitForFunction(
      (name) => {
        const s = [...document.querySelectorAll('select')].find((e) => e.getAttribute('aria-label') === name);
        return s !== undefined && !s.disabled;
      },
      {},
      override,
    );
    await (await page.$(`::-p-aria([name="${override}"][role="combobox"])`))!.select('on');
    await waitForText(page, `Saved: Managers Write MCP Servers in ${WS} → on`);
    await waitForRow(page, WS, 'Managers Write MCP Servers', { effective: 'On', source: 'workspace' });
    const decision = await decide();
    assert.equal(decision.allow, true);
    assert.equal(decision.source, 'workspace');
    await waitForText(page, `patch workspace (Integration Management) · ${WS}`);
    await checkPageAs('settings-override');
  });

  test('a concurrent edit gets the conflict view, which shows what changed and reloads', { timeout: TEST_TIMEOUT }, async () => {
    // Someone else saves while the page shows what it read.
    assert.equal((await api('PATCH', `/v1/orgs/${ORG}/settings/integration-access`, { managersWriteWsIntegrations: false })).status, 200);
    await clickSwitch(page, 'Managers Write MCP Integrations');
    await control(page, 'heading', 'These settings changed since you loaded them').wait();
    await waitForText(page, 'Integration Management · Managers Write Workspace Integrations: On → Off');
    assert.ok(!(await page.evaluate(() => document.body.innerText.includes('Saved:'))), 'no earlier "Saved" line beside "not saved"');
    await checkPageAs('settings-conflict');
    const stored = await api('GET', `/v1/orgs/${ORG}/settings/integration-access`);
    assert.equal(stored.body.managersWriteWsMcpIntegrations, true, 'the refused change was not saved');
    await control(page, 'button', 'Reload').click();
    await page.waitForFunction(() => !document.body.innerText.includes('These settings changed since you loaded them'));
    assert.equal(await isChecked(page, 'Managers Write Workspace Integrations'), false);
  });

  test('the explorer finds a decision by principal and opens its why', { timeout: TEST_TIMEOUT }, async () => {
    const input = request();
    input.principal.id = 'u-explore';
    const made = await decide(input);
    await sidecar.audit.flush();
    await page.goto(`${url}/console/#/explorer?orgId=${ORG}`);
    await control(page, 'textbox', 'Principal').fill('u-explore');
    await (await page.$('::-p-aria([name="Asked through"][role="combobox"])'))!.select('authorize');
    await control(page, 'button', 'Search').click();
    await page.waitForFunction(() => location.hash.includes('principalId=u-explore') && location.hash.includes('api=authorize'));
    await control(page, 'button', `Why ${made.decisionId}`).click();
    await control(page, 'heading', `Why: decision ${made.decisionId}`).wait();
    const detail = await page.evaluate(() => (document.querySelector('[aria-labelledby="detail-title"]') as HTMLElement).innerText);
    assert.match(detail, new RegExp(made.reason));
    // The policy's sentence for the reason, from GET /v1/reasons: the one the decision answered with.
    await waitForText(page, made.message);
    assert.match(detail, /Source\s+workspace/);
    assert.match(detail, /u-explore/);
    assert.ok(detail.includes(`${WS}: manager`));
    assert.match(detail, new RegExp(sidecar.policy.current!.revision));
    assert.ok(page.url().includes(`decision=${made.decisionId}`), 'the open decision is in the URL too');
    await waitForText(page, 'decisions:');
    await checkPageAs('explorer');
  });

  test('what-if lists exactly the flips that the replay API returns, and applies the draft with If-Match', { timeout: TEST_TIMEOUT }, async () => {
    const sent: string[] = [];
    const onRequest = (request: { url(): string; postData(): string | undefined }) => {
      if (request.url().endsWith('/v1/audit/replay')) sent.push(request.postData() ?? '');
    };
    page.on('request', onRequest);
    await page.goto(`${url}/console/#/whatif?org=${ORG}&from=${encodeURIComponent(started)}`);
    await control(page, 'heading', 'Draft (not saved)').wait();
    // The draft: workspaces may no longer override MCP servers, so the workspace's "On" stops counting.
    await clickSwitch(page, 'Allow workspace-level configuration', 'Managers Write MCP Servers');
    await control(page, 'button', 'Run the replay').click();
    await page.waitForFunction(() => /\d+ decisions? would flip/.test(document.body.innerText));
    page.off('request', onRequest);
    assert.equal(sent.length, 1);
    const report = (await api('POST', '/v1/audit/replay', JSON.parse(sent[0]!))).body;
    const flips = report.flips.allowToDeny + report.flips.denyToAllow;
    assert.ok(flips >= 1, 'the override decided at least one recorded decision');
    await waitForText(page, `${flips} ${flips === 1 ? 'decision' : 'decisions'} would flip`);
    const rows = await page.evaluate(() =>
      [...document.querySelectorAll('ol[aria-label="Flipped decisions"] > li')].map((li) => [
        (li.querySelector('p') as HTMLElement).innerText.replace(/^.*? · /, ''),
        ...[...li.querySelectorAll('dd')].map((dd) => dd.textContent),
      ]),
    );
    const { families } = (await api('GET', '/v1/families')).body as { families: Array<{ settings: Array<{ name: string; label: string }> }> };
    const label = (name: string) => families.flatMap((f) => f.settings).find((s) => s.name === name)!.label;
    const outcome = (o: { allow: boolean; reason: string; setting?: string; source?: string }) =>
      `${o.allow ? 'allow' : 'deny'} (${o.reason}${o.setting ? `: ${label(o.setting)}${o.source ? ` (${o.source})` : ''}` : ''})`;
    assert.deepEqual(
      rows,
      report.examples.map((f: { principalId: string; workspaceId: string; action: string; resourceType: string; before: never; after: never }) => [
        `${f.principalId} in ${f.workspaceId}: ${f.action} ${f.resourceType}`,
        outcome(f.before),
        outcome(f.after),
      ]),
    );
    await checkPageAs('what-if');
    await control(page, 'button', 'Apply draft').click();
    await waitForText(page, 'The draft is saved');
    const stored = await api('GET', `/v1/orgs/${ORG}/settings/integration-access`);
    assert.equal(stored.body.allowWorkspaceOverrides.managersWriteMcpServers, false);
    assert.equal((await decide()).source, 'org');
  });

  test('the playground answers like /v1/authorize, with a permalink that carries the input and no token', { timeout: TEST_TIMEOUT }, async () => {
    await page.goto(`${url}/console/#/playground`);
    await control(page, 'textbox', 'Principal id').fill('u-play');
    await (await page.$('::-p-aria([name="Role in the workspace"][role="combobox"])'))!.select('member');
    await control(page, 'button', 'Decide').click();
    await control(page, 'heading', 'Denied').wait();
    const link = new URL(page.url());
    assert.ok(!page.url().includes(ADMIN_TOKEN));
    const input = JSON.parse(new URLSearchParams(link.hash.split('?')[1]).get('input')!);
    assert.equal(input.principal.id, 'u-play');
    const expected = await decide(input);
    const shown = await page.evaluate(() => (document.querySelector('[aria-labelledby="answer-title"]') as HTMLElement).innerText);
    assert.ok(shown.includes(expected.message), shown);
    assert.ok(shown.includes(expected.reason));
    await checkPageAs('playground');
    // The permalink, opened afresh, shows the same input.
    const { page: fresh, problems: freshProblems } = await openPage(browser);
    await fresh.goto(link.toString());
    await fresh.waitForFunction(() => (document.querySelector('#pg-json') as HTMLTextAreaElement | null)?.value.includes('u-play'));
    assert.deepEqual(freshProblems, []);
    await fresh.close();
  });

  test('a token with only audit:read cannot change settings: no enabled control, and the API refuses', { timeout: TEST_TIMEOUT }, async () => {
    const context = await browser.createBrowserContext();
    const { page: own, problems: seen } = await openPage(context);
    await signIn(own, url, AUDITOR, `#/settings?org=${ORG}`);
    await waitForText(own, 'lacks the scope settings:read');
    assert.equal(await own.$$eval('input[type=checkbox]:not([disabled]), select:not([disabled])', (e) => e.length), 0);
    await checkPageAs('settings-audit-only', own, seen);
    const refused = await api('PATCH', `/v1/orgs/${ORG}/settings/integration-access`, { managersWriteMcpServers: true }, AUDITOR);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'insufficient_scope');
    // A token that reads settings but may not write them sees every control, disabled.
    await control(own, 'button', 'Sign out').click();
    await fillSignIn(own, READER);
    await control(own, 'heading', 'Integration Management').wait();
    await waitForText(own, 'lacks the scope settings:write');
    assert.ok((await own.$$eval('input[type=checkbox]', (e) => e.length)) > 0);
    assert.equal(await own.$$eval('input[type=checkbox]:not([disabled]), table select:not([disabled])', (e) => e.length), 0);
    assert.equal((await api('PATCH', `/v1/orgs/${ORG}/settings/integration-access`, { managersWriteMcpServers: true }, READER)).status, 403);
    await own.goto(`${url}/console/#/whatif?org=${ORG}`);
    await control(own, 'heading', 'Draft (not saved)').wait();
    assert.equal(await (await own.$('::-p-aria([name="Apply draft"][role="button"])'))!.evaluate((b) => (b as HTMLButtonElement).disabled), true);
    await context.close();
  });

  test('after `make run`: every setting of every workspace of the example settings shows its effective value and source, as the engine computes them', {
    timeout: TEST_TIMEOUT,
  }, async () => {
    const { families } = (await api('GET', '/v1/families')).body as { families: Array<{ name: string; settings: Array<{ name: string; label: string }> }> };
    for (const orgId of ['org-1', 'org-3']) {
      const workspaces = (await api('GET', `/v1/orgs/${orgId}/workspaces`)).body.workspaces as string[];
      assert.ok(workspaces.length > 0, orgId);
      for (const workspaceId of workspaces) {
        await page.goto(`${url}/console/#/settings?orgId=${orgId}&workspaceId=${workspaceId}`);
        await control(page, 'heading', 'Integration Management').wait();
        const effective = (await api('GET', `/v1/orgs/${orgId}/workspaces/${workspaceId}/effective-settings`)).body.families;
        for (const family of families) {
          for (const setting of family.settings) {
            const { value, source } = effective[family.name][setting.name];
            await waitForRow(page, workspaceId, setting.label, { effective: value ? 'On' : 'Off', source });
          }
        }
      }
    }
    await waitForText(page, 'Workspace ws-31');
    await checkPageAs('settings-example-org-3');
  });

  test('dark and phone width: readable, and still no serious accessibility violation', { timeout: TEST_TIMEOUT }, async () => {
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
    await page.goto(`${url}/console/#/settings?org=${ORG}`);
    await control(page, 'heading', 'Integration Management').wait();
    await checkPageAs('settings-dark');
    await page.setViewport({ width: 390, height: 844 });
    await page.goto(`${url}/console/#/explorer?orgId=${ORG}`);
    await control(page, 'heading', 'Decisions, newest first').wait();
    await checkPageAs('explorer-phone-dark');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    const widest = await page.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .slice(0, 5)
        .map((e) => `${e.tagName}.${e.className}`),
    );
    assert.ok(overflow <= 1, `no sideways scrolling of the page at 390 px (overflow ${overflow}px: ${widest.join(', ')})`);
  });
});
