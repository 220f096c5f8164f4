// The console an organization admin can trust, in chromium: the organization on screen is
// the URL's (header, title, picker, through back/forward), leaving an unsaved draft asks
// first, a mistyped organization says that nothing is stored, a limited token is offered
// exactly its organizations, what-if counts only the flips of the draft (with a change
// saved meanwhile by someone else), 2,000 workspaces stay a short page, settings are named
// by their product labels, and the favicon is served under the CSP. axe-core on every page.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import type { Sidecar } from '../../src/sidecar.ts';
import { ADMIN_TOKEN, decisionRequest, serve, testSidecar } from '../support/sidecar.ts';
import { launchBrowser, openPage, signIn, waitForText, WAIT_MS, checkPage, control } from './browser.ts';

const TEST_TIMEOUT = 240_000;
const hex = (token: string) => createHash('sha256').update(token).digest('hex');
const LIMITED = 'console-limited-secret-71c2a9';
const ORG_A = 'org-trust-a';
const ORG_B = 'org-trust-b';
const BIG = 'org-trust-big';
const WORKSPACES = 2000;

let dir: string;
let sidecar: Sidecar;
let url: string;
let close: () => Promise<void>;
let browser: Browser;
let page: Page;
let problems: string[];
/** The sentences of the confirmations the page asked, and how the next is answered. */
const asked: string[] = [];
let stay = false;

async function api(method: string, path: string, body?: unknown, token = ADMIN_TOKEN): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function decide(input: ReturnType<typeof decisionRequest>): Promise<{ allow: boolean }> {
  const { status, body } = await api('POST', '/v1/authorize', input);
  assert.equal(status, 200);
  return body;
}

/** checkPage on the test's own page unless another is given. */
const checkPageAs = (name: string, on: Page = page, seen: string[] = problems) => checkPage(on, seen, name);
const text = (p: Page, selector: string) => p.$eval(selector, (e) => (e as HTMLElement).innerText);
const pickerValue = (p: Page) => p.$eval('#org-picker', (e) => (e as HTMLInputElement | HTMLSelectElement).value);

/** Waits until the header names `orgId` and the page's organization field shows it. */
async function waitForOrg(p: Page, orgId: string): Promise<void> {
  await p.waitForFunction(
    (org) =>
      (document.querySelector('.top .viewing strong') as HTMLElement | null)?.innerText === org &&
      // The settings pages' picker, or the explorer's organization filter.
      (document.querySelector('#org-picker, #f-orgId') as HTMLInputElement | null)?.value === org,
    { timeout: WAIT_MS },
    orgId,
  );
}

async function switchChecked(p: Page, name: string, within: string): Promise<boolean> {
  const group = await p.$(`::-p-aria([name="${within}"][role="group"])`);
  const handle = await group!.$(`::-p-aria([name="${name}"][role="switch"])`);
  assert.ok(handle, `a switch named ${name} in ${within}`);
  return handle.evaluate((e) => (e as HTMLInputElement).checked);
}

async function clickSwitch(p: Page, name: string, within: string): Promise<void> {
  const group = await p.$(`::-p-aria([name="${within}"][role="group"])`);
  const handle = await group!.$(`::-p-aria([name="${name}"][role="switch"])`);
  assert.ok(handle, `a switch named ${name} in ${within}`);
  await handle.click();
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-console-org-'));
  const tokensFile = join(dir, 'tokens.yaml');
  await writeFile(
    tokensFile,
    `tokens:
  - {name: limited, sha256: ${hex(LIMITED)}, scopes: [settings:read, settings:write, audit:read], orgs: [${ORG_A}, ${ORG_B}]}
`,
  );
  sidecar = await testSidecar({ adminTokensFile: tokensFile });
  ({ url, close } = await serve(sidecar));
  for (const [orgId, ws] of [
    [ORG_A, 'ws-a-1'],
    [ORG_B, 'ws-b-1'],
  ] as const)
    assert.equal((await api('PUT', `/v1/orgs/${orgId}/workspaces/${ws}`)).status, 201);
  // The directory of a large organization, written in the test's store.
  for (let i = 0; i < WORKSPACES; i++) await sidecar.store.registerWorkspace(BIG, `ws-big-${String(i).padStart(4, '0')}`);
  browser = await launchBrowser();
  ({ page, problems } = await openPage(browser));
  page.on('dialog', (dialog) => {
    asked.push(dialog.message());
    // A dialog that a navigation of the test closed first needs no answer.
    (stay ? dialog.dismiss() : dialog.accept()).catch(() => undefined);
  });
  await signIn(page, url, ADMIN_TOKEN, `#/settings?orgId=${ORG_A}`);
});

after(async () => {
  await browser?.close();
  await close?.();
  await rm(dir, { recursive: true, force: true });
});

describe('the organization on screen', { timeout: 20 * 60_000 }, () => {
  test('header, title and picker name the URL\'s organization, through deep links, the picker, back and forward; old "?org=" links work', {
    timeout: TEST_TIMEOUT,
  }, async () => {
    await page.goto(`${url}/console/#/settings?orgId=${ORG_A}`);
    await waitForOrg(page, ORG_A);
    assert.match(await page.title(), new RegExp(`Security settings · ${ORG_A} · Portcullis console`));
    await control(page, 'heading', `Security settings of ${ORG_A}`).wait();
    // Through the picker, as a person does.
    await page.locator('#org-picker').fill(ORG_B);
    await control(page, 'button', 'Open').click();
    await waitForOrg(page, ORG_B);
    assert.ok(page.url().includes(`orgId=${ORG_B}`));
    await control(page, 'button', 'ws-b-1').wait();
    // Another page, by its link, keeps the organization.
    await control(page, 'link', 'What-if').click();
    await control(page, 'heading', `What-if for ${ORG_B}`).wait();
    await waitForOrg(page, ORG_B);
    // Back and forward bring each view's organization back.
    await page.goto(`${url}/console/#/explorer?orgId=${ORG_A}`);
    await waitForOrg(page, ORG_A);
    assert.match(await page.title(), new RegExp(`Decision explorer · ${ORG_A}`));
    await page.goBack();
    await waitForOrg(page, ORG_B);
    assert.match(await page.title(), new RegExp(`What-if · ${ORG_B}`));
    await page.goBack();
    await waitForOrg(page, ORG_B);
    assert.match(await page.title(), new RegExp(`Security settings · ${ORG_B}`));
    await page.goBack();
    await waitForOrg(page, ORG_A);
    await control(page, 'button', 'ws-a-1').wait();
    await page.goForward();
    await waitForOrg(page, ORG_B);
    assert.equal(await pickerValue(page), ORG_B);
    await control(page, 'button', 'ws-b-1').wait();
    // A link of the earlier form.
    await page.goto(`${url}/console/#/whatif?org=${ORG_A}`);
    await waitForOrg(page, ORG_A);
    await checkPageAs('org-navigation');
  });

  test('a mistyped organization says plainly that nothing is stored and no workspace is known; hostile ids are text', { timeout: TEST_TIMEOUT }, async () => {
    await page.goto(`${url}/console/#/settings?orgId=${ORG_A}x`);
    await waitForText(page, `${ORG_A}x: nothing is stored for this organization and the directory knows no workspace of it — these are the defaults`);
    await checkPageAs('org-mistyped');
    await page.goto(`${url}/console/#/whatif?orgId=${ORG_A}x`);
    await waitForText(page, `${ORG_A}x: nothing is stored for this organization`);
    // A real organization with a workspace but nothing stored does not say so.
    await page.goto(`${url}/console/#/settings?orgId=${ORG_B}`);
    await control(page, 'button', 'ws-b-1').wait();
    assert.ok(!(await page.evaluate(() => document.body.innerText.includes('nothing is stored'))));
    const hostile = '<img src=x onerror=alert(1)><script>alert(2)</script>';
    await page.goto(`${url}/console/#/settings?orgId=${encodeURIComponent(hostile)}`);
    await waitForOrg(page, hostile);
    assert.equal(await page.$$eval('main img, main script, header img, header script', (e) => e.length), 0, 'rendered as text, never HTML');
    // Too long for an id: the API's 400 names the field, the page shows it.
    await page.goto(`${url}/console/#/settings?orgId=${'o'.repeat(300)}`);
    await waitForText(page, 'HTTP 400');
    assert.deepEqual(problems, []);
  });

  test('a token limited to some organizations is offered exactly those', { timeout: TEST_TIMEOUT }, async () => {
    const context = await browser.createBrowserContext();
    try {
      const { page: own, problems: seen } = await openPage(context);
      await signIn(own, url, LIMITED, '#/settings');
      const options = await own.$$eval('#org-picker option:not([disabled])', (o) => o.map((e) => (e as HTMLOptionElement).value));
      assert.deepEqual(options, [ORG_A, ORG_B]);
      await own.select('#org-picker', ORG_B);
      await waitForOrg(own, ORG_B);
      await control(own, 'button', 'ws-b-1').wait();
      await checkPageAs('org-limited-token', own, seen);
    } finally {
      await context.close();
    }
  });
});

describe('what-if', { timeout: 20 * 60_000 }, () => {
  test('switching organizations with an unsaved draft asks first; staying keeps the draft', { timeout: TEST_TIMEOUT }, async () => {
    await page.goto(`${url}/console/#/whatif?orgId=${ORG_A}`);
    await control(page, 'heading', 'Draft (not saved)').wait();
    await clickSwitch(page, 'Managers Write MCP Servers', 'Managers Write MCP Servers');
    asked.length = 0;
    stay = true;
    await page.locator('#org-picker').fill(ORG_B);
    await control(page, 'button', 'Open').click();
    assert.equal(asked.length, 1);
    assert.match(asked[0]!, new RegExp(`draft for ${ORG_A} is not saved`));
    await waitForOrg(page, ORG_A);
    assert.ok(page.url().includes(`orgId=${ORG_A}`));
    assert.equal(await switchChecked(page, 'Managers Write MCP Servers', 'Managers Write MCP Servers'), false, 'the draft is kept');
    stay = false;
    await page.locator('#org-picker').fill(ORG_B);
    await control(page, 'button', 'Open').click();
    await waitForOrg(page, ORG_B);
    await control(page, 'heading', 'Draft (not saved)').wait();
    assert.equal(await switchChecked(page, 'Managers Write MCP Servers', 'Managers Write MCP Servers'), true, "the other organization's settings");
  });

  test("a change someone else saved is not the draft's flip: nothing drafted is 0 flips, a drafted change is only its own; skipped records say why", {
    timeout: TEST_TIMEOUT,
  }, async () => {
    const from = new Date(Date.now() - 1000).toISOString();
    const ws = 'ws-a-1';
    const manager = (type: string) => decisionRequest({ orgId: ORG_A, workspaceId: ws, workspaceRoles: { [ws]: 'manager' }, type });
    for (let i = 0; i < 3; i++) assert.equal((await decide(manager('mcp_server'))).allow, true);
    for (let i = 0; i < 2; i++) assert.equal((await decide(manager('integration'))).allow, true);
    // A permissions call is recorded as a summary, which a replay cannot decide again.
    const permissions = await fetch(`${url}/v1/permissions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ principal: manager('mcp_server').principal, workspaceIds: [ws], resourceTypes: ['mcp_server'], actions: ['create'] }),
    });
    assert.equal(permissions.status, 200);
    await sidecar.audit.flush();

    await page.goto(`${url}/console/#/whatif?orgId=${ORG_A}&from=${encodeURIComponent(from)}`);
    await control(page, 'heading', 'Draft (not saved)').wait();
    // Someone else saves while the page shows its draft: the recorded MCP server creates would be denied now.
    assert.equal((await api('PATCH', `/v1/orgs/${ORG_A}/settings/integration-access`, { managersWriteMcpServers: false })).status, 200);
    const runButton = await page.$('::-p-aria([name="Run the replay"][role="button"])');
    const box = await runButton!.boundingBox();
    assert.ok(box && box.y + box.height <= 900, `the replay is reachable without scrolling (button at ${box?.y}px)`);
    await runButton!.click();
    await waitForText(page, '0 decisions would flip');
    await waitForText(page, '5 re-evaluated');
    const skipped = await text(page, 'ul[aria-label="Why records were not replayed"]');
    assert.match(skipped, /1 permissions_summary: decided outside the policy/);
    await checkPageAs('what-if-nothing-drafted');

    // The draft turns off workspace integrations: exactly the two integration creates flip,
    // and the MCP server creates (off since someone saved it) are no flip of the draft.
    await clickSwitch(page, 'Managers Write Workspace Integrations', 'Managers Write Workspace Integrations');
    await control(page, 'button', 'Run the replay').click();
    await waitForText(page, '2 decisions would flip');
    const rows = await page.$$eval('ol[aria-label="Flipped decisions"] > li', (items) =>
      items.map((li) => [(li.querySelector('p') as HTMLElement).innerText, ...[...li.querySelectorAll('dd')].map((dd) => dd.textContent)]),
    );
    assert.equal(rows.length, 2);
    for (const [request, now, drafted] of rows) {
      assert.match(request!, /u-1 in ws-a-1: create integration$/);
      assert.equal(now, 'allow (manager_write_enabled: Managers Write Workspace Integrations (default))');
      assert.equal(drafted, 'deny (manager_write_disabled: Managers Write Workspace Integrations (org))');
    }
    // The draft did not undo the change saved meanwhile: what it sent keeps it.
    const stored = await api('GET', `/v1/orgs/${ORG_A}/settings/integration-access`);
    assert.equal(stored.body.managersWriteMcpServers, false);
    await checkPageAs('what-if');
    // Leave no draft behind for the next test.
    await page.goto(`${url}/console/#/settings?orgId=${ORG_A}`);
  });
  test("a workspace's overrides are drafted too: open it from the list, and its flips are the draft's", { timeout: TEST_TIMEOUT }, async () => {
    const from = new Date(Date.now() - 1000).toISOString();
    const ws = 'ws-b-1';
    for (let i = 0; i < 2; i++)
      assert.equal((await decide(decisionRequest({ orgId: ORG_B, workspaceId: ws, workspaceRoles: { [ws]: 'manager' } }))).allow, true);
    await sidecar.audit.flush();
    await page.goto(`${url}/console/#/whatif?orgId=${ORG_B}&from=${encodeURIComponent(from)}`);
    await control(page, 'heading', 'Draft (not saved)').wait();
    await clickSwitch(page, 'Allow workspace-level configuration', 'Managers Write MCP Servers');
    await control(page, 'button', ws).click();
    await control(page, 'heading', `Workspace ${ws}`).wait();
    const override = `Override Managers Write MCP Servers in ${ws}`;
    await page.waitForFunction((name) => !(document.querySelector(`select[aria-label="${name}"]`) as HTMLSelectElement | null)?.disabled, {}, override);
    await page.select(`select[aria-label="${override}"]`, 'off');
    await waitForText(page, `The draft changes Integration Management, workspace ${ws}.`);
    await control(page, 'button', 'Run the replay').click();
    await waitForText(page, '2 decisions would flip');
    const drafted = await page.$$eval('ol[aria-label="Flipped decisions"] dd', (dds) => dds.map((dd) => dd.textContent));
    assert.deepEqual(drafted, [
      'allow (manager_write_enabled: Managers Write MCP Servers (default))',
      'deny (manager_write_disabled: Managers Write MCP Servers (workspace))',
      'allow (manager_write_enabled: Managers Write MCP Servers (default))',
      'deny (manager_write_disabled: Managers Write MCP Servers (workspace))',
    ]);
    await checkPageAs('what-if-workspace');
    // Nothing was saved: the stored workspace has no value of its own.
    assert.equal((await api('GET', `/v1/orgs/${ORG_B}/workspaces/${ws}/settings/integration-access`)).body.stored, false);
    await page.goto(`${url}/console/#/settings?orgId=${ORG_B}`);
    await control(page, 'heading', `Security settings of ${ORG_B}`).wait();
  });
});

describe('workspaces at scale', { timeout: 20 * 60_000 }, () => {
  test(`${WORKSPACES} workspaces: a page of them, search finds one, one opened at a time, and the page stays short`, { timeout: TEST_TIMEOUT }, async () => {
    const height = () => page.evaluate(() => document.documentElement.scrollHeight);
    await page.goto(`${url}/console/#/settings?orgId=${ORG_B}`);
    await control(page, 'button', 'ws-b-1').wait();
    const small = await height();

    await page.goto(`${url}/console/#/settings?orgId=${BIG}`);
    await control(page, 'button', 'ws-big-0000').wait();
    assert.equal(await page.$$eval('.workspace-list li', (e) => e.length), 20, 'one page of the list');
    assert.ok((await height()) - small < 600, `the list adds a page, not ${WORKSPACES} rows (${small}px -> ${await height()}px)`);
    await control(page, 'button', 'Next workspaces').click();
    await control(page, 'button', 'ws-big-0020').wait();
    await control(page, 'button', 'Previous workspaces').click();
    await control(page, 'button', 'ws-big-0000').wait();

    await page.locator('#ws-search').fill('ws-big-1234');
    await control(page, 'button', 'Find').click();
    await page.waitForFunction(() => document.querySelectorAll('.workspace-list li').length === 1);
    await control(page, 'button', 'ws-big-1234').click();
    await control(page, 'heading', 'Workspace ws-big-1234').wait();
    assert.ok(page.url().includes('workspaceId=ws-big-1234'));
    assert.equal(await page.$$eval('.workspace table', (e) => e.length), 1, 'one workspace open');
    // A disabled override says why.
    const label = 'Override Managers Write MCP Servers in ws-big-1234';
    const why = await page.$eval(`select[aria-label="${label}"]`, (s) => {
      const select = s as HTMLSelectElement;
      return { disabled: select.disabled, text: document.getElementById(select.getAttribute('aria-describedby') ?? '')?.textContent };
    });
    assert.deepEqual(why, { disabled: true, text: 'Disabled: the organization does not allow workspace overrides for this setting' });
    // A family with one override toggle says it once, in its row, for all its settings.
    const { families } = (await api('GET', '/v1/families')).body as {
      families: Array<{ name: string; workspaceOverrides: string; settings: Array<{ label: string }> }>;
    };
    const familyLevel = families.filter((f) => f.workspaceOverrides === 'family');
    const sentence = 'Disabled: the organization does not allow workspace overrides for this family';
    assert.equal(await page.$$eval('.why-disabled', (e, t) => e.filter((x) => x.textContent === t).length, sentence), familyLevel.length);
    for (const family of familyLevel) {
      const described = await page.$eval(
        `select[aria-label="Override ${family.settings[0]!.label} in ws-big-1234"]`,
        (s) => document.getElementById(s.getAttribute('aria-describedby') ?? '')?.textContent,
      );
      assert.equal(described, sentence, family.name);
    }
    await waitForText(page, 'No setting of ws-big-1234 differs from the organization');
    // One workspace's table grows with the bundle's settings, never with the number of workspaces.
    const settings = families.reduce((count, family) => count + family.settings.length, 0);
    assert.ok((await height()) < small + 200 * settings, `one workspace open keeps the page bounded (${await height()}px for ${settings} settings)`);
    await checkPageAs('workspaces-2000');
  });

  test('an override is shown where it differs from the organization', { timeout: TEST_TIMEOUT }, async () => {
    const ws = 'ws-big-0007';
    assert.equal(
      (await api('PATCH', `/v1/orgs/${BIG}/settings/integration-access`, { allowWorkspaceOverrides: { managersWriteMcpServers: true } })).status,
      200,
    );
    assert.equal((await api('PUT', `/v1/orgs/${BIG}/workspaces/${ws}/settings/integration-access`, { managersWriteMcpServers: false })).status, 200);
    await page.goto(`${url}/console/#/settings?orgId=${BIG}&workspaceId=${ws}`);
    await waitForText(page, `1 setting of ${ws} differs from the organization's: Managers Write MCP Servers.`);
    const cells = await page.$eval('tr[data-setting="managersWriteMcpServers"]', (tr) =>
      [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.innerText.trim()),
    );
    assert.deepEqual(cells, ['Off', 'workspace', 'Off (organization: On)']);
    const same = await page.$eval('tr[data-setting="managersWriteWsIntegrations"]', (tr) => (tr.querySelectorAll('td')[2] as HTMLElement).innerText.trim());
    assert.equal(same, '', 'no override, nothing shown');
  });
});

describe('product labels, lists and the small things', { timeout: 20 * 60_000 }, () => {
  test('the why panel names the setting by its label; the Reason filter is the list of GET /v1/reasons', { timeout: TEST_TIMEOUT }, async () => {
    const input = decisionRequest({ orgId: ORG_A, workspaceId: 'ws-a-1', workspaceRoles: { 'ws-a-1': 'manager' } });
    const made = (await api('POST', '/v1/authorize', input)).body as { decisionId: string; setting: string };
    assert.equal(made.setting, 'managersWriteMcpServers');
    await sidecar.audit.flush();
    await page.goto(`${url}/console/#/explorer?orgId=${ORG_A}&decision=${made.decisionId}`);
    await control(page, 'heading', `Why: decision ${made.decisionId}`).wait();
    await page.waitForFunction(() => /Setting\s+Managers Write MCP Servers \(Integration Management\)/.test(document.body.innerText));
    const detail = await text(page, '[aria-labelledby="detail-title"] dl');
    assert.ok(!detail.includes('managersWriteMcpServers'), 'no camelCase key where a label exists');
    const reasons = Object.keys((await api('GET', '/v1/reasons')).body.reasons).sort();
    await page.waitForFunction((n) => document.querySelectorAll('#f-reason option').length === n, {}, reasons.length + 1);
    const options = await page.$$eval('#f-reason option', (o) => o.map((e) => (e as HTMLOptionElement).value));
    assert.deepEqual(options, ['', ...reasons]);
    await page.select('#f-reason', 'manager_write_disabled');
    await control(page, 'button', 'Search').click();
    await page.waitForFunction(() => location.hash.includes('reason=manager_write_disabled'));
    await checkPageAs('explorer-labels');
  });

  test('the history names settings by their labels, with its separators in place', { timeout: TEST_TIMEOUT }, async () => {
    await page.goto(`${url}/console/#/settings?orgId=${ORG_A}`);
    await control(page, 'heading', 'History').wait();
    await waitForText(page, 'admin · register workspace · ws-a-1');
    await page.waitForFunction(() => /Managers Write MCP Servers: (On|\(unset\)) → Off/.test(document.body.innerText));
    const history = await text(page, '.history');
    assert.ok(!history.includes('managersWriteMcpServers'), history);
  });

  test('the favicon is served by the console and allowed by its CSP', { timeout: TEST_TIMEOUT }, async () => {
    const href = await page.$eval('link[rel="icon"]', (l) => (l as HTMLLinkElement).href);
    const response = await fetch(href);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/svg+xml');
    assert.match(await response.text(), /<svg/);
    assert.deepEqual(problems, []);
  });
});
