// A real browser for the console tests and the README screenshots: Debian's chromium
// driven by puppeteer-core (no browser download), axe-core run inside the page, and a
// record of anything the page's Content-Security-Policy refused or the page threw.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Generous: the machine may be shared and loaded. */
export const WAIT_MS = 30_000;

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the console tests drive Debian's chromium. Install it with "apt-get install -y chromium" (.ci/run installs it).`);
  }
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The sandbox needs user namespaces that a root CI container does not have.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
    protocolTimeout: 120_000,
  });
}

/** A page (of the browser, or of a context of its own: its own sessionStorage) whose CSP refusals and uncaught errors are collected in `problems`. */
export async function openPage(browser: Browser | BrowserContext, width = 1280, height = 900): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  await page.setViewport({ width, height });
  const problems: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(`CSP: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${(error as Error).message ?? String(error)}`));
  return { page, problems };
}

const axeSource = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/** axe-core's serious and critical violations on the page as it is now. Evaluated through the DevTools protocol, which the page's CSP does not govern. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(await axeSource);
  const violations = (await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: unknown[] }> } }).axe;
    return (await axe.run(document, { resultTypes: ['violations'] })).violations;
  })) as AxeViolation[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function screenshot(page: Page, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: true });
}

/** Where the console tests leave a screenshot of every page they check. */
const SHOTS = '.cache/console';

/**
 * Screenshots a page the test reached (.cache/console/<name>.png), then asserts no serious
 * accessibility violation and nothing in `seen` (CSP refusals and page errors, from openPage).
 */
export async function checkPage(page: Page, seen: string[], name: string): Promise<void> {
  await screenshot(page, join(SHOTS, `${name}.png`));
  const violations = await seriousViolations(page);
  assert.deepEqual(
    violations.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `axe on ${name}`,
  );
  assert.deepEqual(seen, [], `no CSP refusal or page error on ${name}`);
}

/** The element with this ARIA role and accessible name. */
export const control = (page: Page, role: string, name: string) => page.locator(`::-p-aria([name="${name}"][role="${role}"])`);

/** Signs in through the form, as a person does. */
export async function signIn(page: Page, baseUrl: string, token: string, hash = '#/settings'): Promise<void> {
  await page.goto(`${baseUrl}/console/${hash}`);
  await fillSignIn(page, token);
}

/** Fills the sign-in form the page shows now. */
export async function fillSignIn(page: Page, token: string): Promise<void> {
  await page.locator('::-p-aria([name="Admin token"])').fill(token);
  await page.locator('::-p-aria([name="Sign in"][role="button"])').click();
  await page.waitForFunction(() => document.body.innerText.includes('Signed in as'));
}

/** Waits until the page's text contains `text`. */
export async function waitForText(page: Page, text: string): Promise<void> {
  await page.waitForFunction((t) => document.body.innerText.includes(t), { timeout: WAIT_MS }, text);
}
