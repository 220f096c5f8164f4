// Serves the web console (GET /console): the browser files of src/console/ui and the few
// vendor files it imports from node_modules, under a strict Content-Security-Policy. What
// can be served is a fixed table built at start (URL path -> file), so no request path ever
// reaches the file system: "..", encoded slashes and anything not listed are a plain 404.
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router, type Response } from 'express';
import { packagePath } from '../package.ts';

export const CONSOLE_PATH = '/console';

// In the package as they are written: the browser loads these files, nothing compiles them.
const UI_DIR = packagePath('src/console/ui');

/** The npm files the browser imports, by the URL it imports them as (see ui/index.html and ui/lib/). */
const VENDOR: Record<string, string> = {
  // Preact and htm in one ES module with no imports of its own (the browser has no import map).
  'vendor/preact-htm.js': 'htm/preact/standalone',
  'vendor/uplot.js': 'uplot/dist/uPlot.esm.js',
  'vendor/uplot.css': 'uplot/dist/uPlot.min.css',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Only this origin, nothing inline: scripts and styles come from files, API calls go to
 * the same origin, and no page may frame the console (clickjacking a settings toggle).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  type: string;
}

function uiFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? uiFiles(join(dir, entry.name)) : TYPES[extname(entry.name)] ? [join(dir, entry.name)] : [],
  );
}

/** Every servable file, read once: the console is a few dozen small files. */
function assets(): Map<string, Asset> {
  const table = new Map<string, Asset>();
  for (const file of uiFiles(UI_DIR)) {
    table.set(relative(UI_DIR, file).split(sep).join('/'), { body: readFileSync(file), type: TYPES[extname(file)]! });
  }
  for (const [path, module] of Object.entries(VENDOR)) {
    table.set(path, { body: readFileSync(fileURLToPath(import.meta.resolve(module))), type: TYPES[extname(path)]! });
  }
  return table;
}

function secured(res: Response): Response {
  return res
    .set('Content-Security-Policy', CONTENT_SECURITY_POLICY)
    .set('X-Content-Type-Options', 'nosniff')
    .set('Referrer-Policy', 'no-referrer')
    .set('X-Frame-Options', 'DENY')
    .set('Cross-Origin-Opener-Policy', 'same-origin')
    .set('Cache-Control', 'no-cache');
}

export function consoleRoutes(): Router {
  const table = assets();
  const router = Router();
  router.get(/^\/console(\/.*)?$/, (req, res) => {
    if (req.path === CONSOLE_PATH) {
      secured(res).redirect(301, `${CONSOLE_PATH}/`);
      return;
    }
    // The raw path, undecoded: a file name of ours never needs percent-encoding.
    const path = req.path.slice(CONSOLE_PATH.length + 1);
    const asset = table.get(path === '' ? 'index.html' : path);
    if (!asset) {
      secured(res).status(404).type('text/plain').send('not found');
      return;
    }
    secured(res).type(asset.type).send(asset.body);
  });
  return router;
}
