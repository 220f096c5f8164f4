// The access review on the console's settings page, in a real browser (chromium via
// puppeteer-core), driven by visible labels and roles: the workspace's table of who can do
// what agrees with the API, a preview of a change says what it would change in words
// ("workspace managers in ws-acc-1 can no longer create mcp_server") and writes nothing,
// and the page has no serious accessibility violation, CSP refusal or page error.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { ADMIN_TOKEN, serve } from '../support/sidecar.ts';
import { testSidecar } from '../support/sidecar.ts';
import { launchBrowser, openPage, screenshot, seriousViolations, signIn, waitForText } from './browser.ts';

const ORG = 'org-acc';
const WS = 'ws-acc-1';
const auth = { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' };
let served: Awaited<ReturnType<typeof serve>>;
let browser: Browser;
let page: Page;
let problems: string[];

before(async () => {
  served = await serve(await testSidecar());
  assert.ok((await fetch(`${served.url}/v1/orgs/${ORG}/workspaces/${WS}`, { method: 'PUT', headers: auth })).status < 300);
  browser = await launchBrowser();
  ({ page, problems } = await openPage(browser));
});
after(async () => {
  await browser?.close();
  await served?.close();
});

const rowText = (p: Page, role: string) =>
  p.evaluate(
    (r) => [...(document.querySelector(`section.access tr[data-role="${r}"]`)?.querySelectorAll('td') ?? [])].map((td) => (td as HTMLElement).innerText.trim()),
    role,
  );

test('the settings page shows who can do what in the workspace, and previews a change in words without writing it', { timeout: 180_000 }, async () => {
  await signIn(page, served.url, ADMIN_TOKEN, `#/settings?orgId=${ORG}&workspaceId=${WS}`);
  await page.locator(`::-p-aria([name="Who can do what in ${WS}"][role="heading"])`).wait();
  const review = (await (await fetch(`${served.url}/v1/orgs/${ORG}/workspaces/${WS}/access`, { headers: auth })).json()) as {
    roles: Record<string, Record<string, Record<string, { allow: boolean }>>>;
  };
  for (const role of Object.keys(review.roles)) {
    const expected = Object.values(review.roles[role]!).map(
      (actions) =>
        Object.entries(actions)
          .filter(([, c]) => c.allow)
          .map(([a]) => a)
          .join(', ') || 'none',
    );
    assert.deepEqual(await rowText(page, role), expected, role);
  }
  assert.equal(
    (await rowText(page, 'workspace_manager'))[Object.keys(review.roles.owner!).indexOf('mcp_server')],
    'create, update, delete, read',
    'managers may write MCP servers by default',
  );

  const before = await (await fetch(`${served.url}/v1/orgs/${ORG}/settings/integration-access`, { headers: auth })).json();
  await page.locator(`::-p-aria([name="Preview a change in ${WS}"][role="combobox"])`).wait();
  await page.select(`section.access select`, 'managersWriteMcpServers:off');
  await page.locator('::-p-aria([name="Preview"][role="button"])').click();
  await waitForText(page, `With this change, workspace managers in ${WS} can no longer create mcp_server.`);
  await waitForText(page, `With this change, workspace admins in ${WS} can no longer delete mcp_server.`);
  const after = await (await fetch(`${served.url}/v1/orgs/${ORG}/settings/integration-access`, { headers: auth })).json();
  assert.deepEqual(after, before, 'a preview writes nothing');

  await screenshot(page, '.cache/console/access.png');
  const violations = await seriousViolations(page);
  assert.deepEqual(
    violations.map((v) => `${v.impact} ${v.id}: ${v.help}`),
    [],
  );
  assert.deepEqual(problems, []);
});
