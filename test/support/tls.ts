// A throwaway CA and server certificates for 127.0.0.1 signed by it (the openssl CLI).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TlsFiles } from './redis.ts';

const run = promisify(execFile);

/** Makes the CA in dir on first use; each call signs a new server certificate (a new serial) into `name`.crt/.key. */
export async function certificates(dir: string, name = 'server'): Promise<TlsFiles> {
  const file = (base: string) => join(dir, base);
  if (!existsSync(file('ca.crt'))) {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.crt'),
      '-days',
      '1',
      '-subj',
      '/CN=portcullis-test-ca',
    ]);
    await writeFile(file('san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  }
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', '/CN=127.0.0.1']);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    file(`${name}.csr`),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file(`${name}.crt`),
    '-days',
    '1',
    '-extfile',
    file('san.cnf'),
  ]);
  return { certFile: file(`${name}.crt`), keyFile: file(`${name}.key`), caFile: file('ca.crt') };
}
