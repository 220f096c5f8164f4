// A listener of the sidecar (the decision port, the admin port): plain HTTP, or HTTPS from
// certificate and key files that are re-read when they change, so a certificate renewed by
// cert-manager or a mounted Secret reaches new connections without a restart. Stopping
// drains: in-flight requests are answered, then idle connections close.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ConfigError, listenProblem } from '../config.ts';
import { createLimitedServer, type ServerLimits } from './limits.ts';

export interface ListenerOptions {
  name: string;
  /** The setting that chose the port, as the user wrote it (PORT, ADMIN_PORT): a port in use names it. */
  setting: string;
  host: string;
  port: number;
  /** Both set: HTTPS; both empty: HTTP. */
  certFile: string;
  keyFile: string;
  /** How often the certificate files are checked for a change. */
  reloadMs: number;
  limits: ServerLimits;
  /** On stop, in-flight requests get this long before connections are cut. */
  drainMs: number;
}

export interface Listener {
  port: number;
  url: string;
  /** Stops accepting, answers what is in flight, closes; resolves when the server is closed. */
  stop(): Promise<void>;
}

function readPair(options: ListenerOptions): { cert: Buffer; key: Buffer } {
  try {
    return { cert: readFileSync(options.certFile), key: readFileSync(options.keyFile) };
  } catch (error) {
    throw new ConfigError(`${options.name} listener: cannot read its certificate or key (${(error as Error).message})`);
  }
}

export async function listen(app: Parameters<typeof createLimitedServer>[0], options: ListenerOptions, log: Logger): Promise<Listener> {
  const tls = options.certFile !== '';
  let server: Server;
  try {
    server = createLimitedServer(app, options.limits, tls ? readPair(options) : undefined);
  } catch (error) {
    // A key that does not match its certificate, or a file that is not PEM.
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      `${options.name} listener: ${options.certFile} and ${options.keyFile} are not a usable certificate and key (${(error as Error).message})`,
    );
  }
  server.listen(options.port, options.host);
  await new Promise<void>((resolve, reject) =>
    server.once('listening', resolve).once('error', (error) => reject(listenProblem(error, options.setting, options.host, options.port))),
  );
  const { port } = server.address() as AddressInfo;

  const reload = () => {
    try {
      (server as import('node:https').Server).setSecureContext(readPair(options));
      log.info({ listener: options.name, certFile: options.certFile }, 'TLS certificate reloaded');
    } catch (error) {
      // Between the two files of a rotation the pair may not match: the next change completes it.
      log.warn({ listener: options.name, err: error }, 'TLS certificate not reloaded; still serving the previous one');
    }
  };
  if (tls) for (const file of [options.certFile, options.keyFile]) watchFile(file, { interval: options.reloadMs }, reload);

  const stop = () =>
    new Promise<void>((resolve) => {
      if (tls) for (const file of [options.certFile, options.keyFile]) unwatchFile(file, reload);
      // A keep-alive connection becomes idle only once its in-flight request is answered:
      // close each as soon as it does, and cut whatever is left when the drain time is up.
      const closeIdle = setInterval(() => server.closeIdleConnections(), 50);
      const cut = setTimeout(() => {
        log.warn({ listener: options.name, afterMs: options.drainMs }, 'drain time is up: closing the remaining connections');
        server.closeAllConnections();
      }, options.drainMs);
      server.close(() => {
        clearInterval(closeIdle);
        clearTimeout(cut);
        resolve();
      });
      server.closeIdleConnections();
    });
  return { port, url: `${tls ? 'https' : 'http'}://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`, stop };
}
