// `make screenshots`: the README's pictures of the console (docs/console-*.png), taken in
// chromium from a sidecar set up as `make run` sets it up (examples/settings.yaml), after a
// few decisions so that the explorer and what-if have something to show.
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { createSidecar } from '../../src/sidecar.ts';
import { decisionRequest, serve } from '../support/sidecar.ts';
import { launchBrowser, openPage, screenshot, signIn, waitForText } from './browser.ts';

const TOKEN = 'screenshots-admin-token';
const config = { ...loadConfig({ ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'silent' }), auditSpillDir: '' };
const sidecar = await createSidecar(config, pino({ level: 'silent' }));
const started = new Date(Date.now() - 60_000).toISOString();
const { url, close } = await serve(sidecar, config);
const browser = await launchBrowser();
try {
  const decide = (over: Parameters<typeof decisionRequest>[0], id = 'u-1') => {
    const input = decisionRequest(over);
    input.principal.id = id;
    return fetch(`${url}/v1/authorize`, { method: 'POST', body: JSON.stringify(input) }).then((r) => r.json() as Promise<{ decisionId: string }>);
  };
  await decide({ workspaceId: 'ws-2', workspaceRoles: { 'ws-2': 'manager' } }, 'alice');
  await decide({ type: 'integration' }, 'alice');
  await decide({ action: 'read', workspaceRoles: { 'ws-1': 'member' } }, 'bob');
  const shown = await decide({}, 'carol');
  await sidecar.audit.flush();

  const { page } = await openPage(browser, 1280, 1000);
  await signIn(page, url, TOKEN, '#/settings?orgId=org-1&workspaceId=ws-2');
  await waitForText(page, 'Workspace ws-2');
  await waitForText(page, 'Who can do what in ws-2');
  await screenshot(page, 'docs/console-settings.png');
  await page.goto(`${url}/console/#/explorer?orgId=org-1&decision=${shown.decisionId}`);
  await waitForText(page, 'Bundle revision');
  await screenshot(page, 'docs/console-explorer.png');
  // What-if: a draft that gives managers MCP servers back, replayed over the decisions above.
  await page.goto(`${url}/console/#/whatif?orgId=org-1&from=${encodeURIComponent(started)}`);
  await waitForText(page, 'Draft (not saved)');
  const group = await page.$('::-p-aria([name="Managers Write MCP Servers"][role="group"])');
  await (await group!.$('::-p-aria([name="Managers Write MCP Servers"][role="switch"])'))!.click();
  await page.locator('::-p-aria([name="Run the replay"][role="button"])').click();
  await waitForText(page, 'would flip');
  await screenshot(page, 'docs/console-whatif.png');
  console.log('wrote docs/console-settings.png, docs/console-explorer.png and docs/console-whatif.png');
} finally {
  await browser.close();
  await close();
}
