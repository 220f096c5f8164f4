// `portcullis` — the command line (bin/portcullis.mjs runs it):
//   audit query|get|export|replay   against a running sidecar's audit API
//   settings import                 a settings YAML into Redis, through the settings store
// It is its own program: it reads its own environment (PORTCULLIS_URL, ADMIN_TOKEN,
// REDIS_URL) for defaults, never the sidecar's configuration.
import { auditExport, auditGet, auditQuery, auditReplay } from './audit.ts';
import { ApiCallError } from './client.ts';
import { settingsImport } from './settings.ts';
import { UsageError } from './time.ts';

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export type Env = Record<string, string | undefined>;

const USAGE = `usage: portcullis <command> [options]

  audit query   --org ID [filters] [--limit 100] [--format table|json|ndjson] [--cursor C]
  audit get     DECISION_ID [--format json|table]
  audit export  --org ID [filters] [--output FILE]           NDJSON, progress on stderr
  audit replay  --org ID --since TIME (--bundle FILE.tar.gz | --settings FILE.yaml | both)
                [filters] [--examples 10] [--format table|json]
  settings import FILE.yaml [--redis URL] [--actor NAME] [--dry-run] [--prune]

filters:  --workspace ID  --principal ID  --denied | --allowed  --reason R
          --type integration|mcp_integration|mcp_server  --action create|update|delete|read
          --since TIME  --until TIME     (TIME: 30m, 1h, 7d back from now, or ISO-8601)
sidecar:  --url URL (default $PORTCULLIS_URL or http://127.0.0.1:8181)
          --token T (default $ADMIN_TOKEN)
`;

const COMMANDS: Record<string, (args: string[], env: Env, io: Io) => Promise<void>> = {
  'audit query': auditQuery,
  'audit get': auditGet,
  'audit export': auditExport,
  'audit replay': auditReplay,
  'settings import': settingsImport,
};

export async function main(argv: string[], env: Env, io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const command = COMMANDS[argv.slice(0, 2).join(' ')];
  if (!command || argv.includes('--help') || argv.includes('-h')) {
    (command || argv.length === 0 || argv[0] === 'help' ? io.stdout : io.stderr).write(USAGE);
    return command || argv.length === 0 || argv[0] === 'help' ? 0 : 2;
  }
  try {
    await command(argv.slice(2), env, io);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`portcullis: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    io.stderr.write(`portcullis: ${error instanceof ApiCallError ? error.message : error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
