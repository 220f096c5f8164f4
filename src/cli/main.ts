// `portcullis` — the command line (bin/portcullis.mjs runs it):
//   audit query|get|export|replay   against a running sidecar's audit API
//   settings import                 a settings YAML into Redis, through the settings store
//   settings export                 the settings YAML of a Redis (or of the settings file), for import
// It is its own program: it reads its own environment (PORTCULLIS_URL, ADMIN_TOKEN,
// REDIS_URL) for defaults, never the sidecar's configuration.
// Exit codes: 0 done, 1 failed (the message names what: the URL that refused, the file
// that is bad), 2 usage (an unknown command or option, a bad value).
import { KEY_TYPES } from '../decision/request.ts';
import { DECISION_APIS } from '../decision/record.ts';
import { readBundleFile } from '../engine/bundle.ts';
import { familiesFromData } from '../engine/families.ts';
import { PACKAGE_VERSION } from '../package.ts';
import { nearest } from '../suggest.ts';
import { auditExport, auditGet, auditQuery, auditReplay, DEFAULT_BUNDLE } from './audit.ts';
import type { Env, Io } from './io.ts';
import { settingsExport } from './export.ts';
import { settingsImport } from './settings.ts';
import { UsageError } from './time.ts';

/** Stands in the help text for the bundle's resource types, read when the help is printed. */
const TYPES = '<types>';
const FILTERS = `filters:  --workspace ID  --principal ID  --denied | --allowed  --reason R
          --type ${TYPES}  --action create|update|delete|read
          --api ${DECISION_APIS.join('|')}
          --key-id ID  --key-type ${KEY_TYPES.join('|')}   (decisions of API keys)
          --since TIME  --until TIME     (TIME: 30m, 1h, 7d back from now, or ISO-8601)
          --unverified   (the records that named --org without the workspace directory confirming it)`;
const SIDECAR = `sidecar:  --url URL (default $PORTCULLIS_URL or http://127.0.0.1:8181)
          --token T (default $ADMIN_TOKEN)`;

interface Command {
  run: (args: string[], env: Env, io: Io) => Promise<void>;
  /** The synopsis line(s); the options a "did you mean" may suggest are read from it and `more`. */
  synopsis: string;
  more?: string;
}

const COMMANDS: Record<string, Command> = {
  'audit query': {
    run: auditQuery,
    synopsis: 'audit query   --org ID [filters] [--limit 100] [--format table|json|ndjson] [--cursor C]',
    more: `${FILTERS}\n${SIDECAR}`,
  },
  'audit get': { run: auditGet, synopsis: 'audit get     DECISION_ID [--format json|table]', more: SIDECAR },
  'audit export': {
    run: auditExport,
    synopsis: 'audit export  --org ID [filters] [--output FILE]           NDJSON, progress on stderr',
    more: `${FILTERS}\n${SIDECAR}`,
  },
  'audit replay': {
    run: auditReplay,
    synopsis: `audit replay  --org ID --since TIME (--bundle FILE.tar.gz | --settings FILE.yaml | both)
                [filters] [--recorded-revision REV] [--examples 10] [--format table|json]`,
    more: `${FILTERS}\n${SIDECAR}`,
  },
  'settings import': {
    run: settingsImport,
    synopsis: 'settings import FILE.yaml [--redis URL | --redis-cluster HOST:PORT,...] [--bundle FILE.tar.gz] [--actor NAME] [--dry-run] [--prune]',
    more:
      'redis:    --redis URL (default $REDIS_URL), or --redis-cluster HOST:PORT,... (default $REDIS_CLUSTER_NODES);\n' +
      '          $REDIS_USERNAME, $REDIS_PASSWORD, $REDIS_TLS, $REDIS_TLS_CA_FILE, $REDIS_MIN_REPLICAS_ACK as the sidecar reads them\n' +
      'families: --bundle FILE.tar.gz, the policy bundle whose families the file is checked against (default $BUNDLE_PATH or bundles/portkey.tar.gz)\n' +
      '          --dry-run prints the differences and writes nothing; --prune removes what the file does not name',
  },
  'settings export': {
    run: settingsExport,
    synopsis: 'settings export [--redis URL | --redis-cluster HOST:PORT,... | --settings-file FILE.yaml] [--bundle FILE.tar.gz] [--output FILE]',
    more:
      'source:   --redis URL or --redis-cluster HOST:PORT,... (default $REDIS_URL or $REDIS_CLUSTER_NODES); without a Redis,\n' +
      '          --settings-file FILE.yaml (default $SETTINGS_FILE, as the in-memory store of the sidecar reads it)\n' +
      'families: --bundle FILE.tar.gz (default $BUNDLE_PATH or bundles/portkey.tar.gz)\n' +
      '          the YAML goes to stdout, or to --output FILE; `settings import` takes it back unchanged',
  },
};

const EXIT_CODES = 'exit codes: 0 done, 1 failed, 2 usage';
const USAGE = `usage: portcullis <command> [options]      (portcullis <command> --help for one command)

  serve         start the sidecar, configured by its environment (bin/portcullis.mjs runs it)
${Object.values(COMMANDS)
  .map((c) => `  ${c.synopsis}`)
  .join('\n')}

${FILTERS}
${SIDECAR}
${EXIT_CODES}; portcullis --version
`;

const usageOf = (command: Command) => `usage: portcullis ${command.synopsis}\n\n${command.more ? `${command.more}\n` : ''}${EXIT_CODES}\n`;

/**
 * The help with --type's values: the resource types of the bundle the sidecars run ($BUNDLE_PATH
 * or the packaged one), never a list of its own; a bundle that cannot be read leaves a placeholder.
 */
async function withTypes(text: string, env: Env): Promise<string> {
  if (!text.includes(TYPES)) return text;
  let types = 'TYPE (a resource type of the bundle)';
  try {
    const listed = familiesFromData((await readBundleFile(env.BUNDLE_PATH ?? DEFAULT_BUNDLE)).data).resourceTypes;
    if (listed.length > 0) types = listed.join('|');
  } catch {
    // the placeholder stays: help never fails for want of a bundle
  }
  return text.replaceAll(TYPES, types);
}

function version(): string {
  return `portcullis ${PACKAGE_VERSION}\n`;
}

export async function main(argv: string[], env: Env, io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [first, second] = argv;
  if (first === undefined) {
    io.stderr.write(await withTypes(USAGE, env));
    return 2;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    io.stdout.write(await withTypes(USAGE, env));
    return 0;
  }
  if (first === '--version' || first === '-V') {
    io.stdout.write(version());
    return 0;
  }
  const name = `${first} ${second ?? ''}`.trim();
  const command = COMMANDS[name];
  // `portcullis audit --help`: the usage of that group's commands.
  const group = Object.entries(COMMANDS).filter(([key]) => key.startsWith(`${first} `));
  if (!command && group.length > 0 && (second === '--help' || second === '-h' || second === undefined)) {
    (second === undefined ? io.stderr : io.stdout).write(`usage:\n${group.map(([, c]) => `  portcullis ${c.synopsis}`).join('\n')}\n\n${EXIT_CODES}\n`);
    return second === undefined ? 2 : 0;
  }
  if (!command) {
    const guess = nearest(name, Object.keys(COMMANDS));
    io.stderr.write(`portcullis: unknown command "${name}"${guess ? `; did you mean "${guess}"?` : ''}\n\n${await withTypes(USAGE, env)}`);
    return 2;
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(await withTypes(usageOf(command), env));
    return 0;
  }
  try {
    await command.run(argv.slice(2), env, io);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`portcullis ${name}: ${usageMessage(error as Error, command)}\n\n${await withTypes(usageOf(command), env)}`);
      return 2;
    }
    io.stderr.write(`portcullis ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

/** A usage error as one line; an unknown option names the nearest one the command takes. */
function usageMessage(error: Error, command: Command): string {
  const unknown = /^Unknown option '(--?[^']+)'/.exec(error.message)?.[1];
  if (!unknown) return error.message;
  const options = [...new Set(`${command.synopsis}\n${command.more ?? ''}`.match(/--[a-z][a-z-]*/g) ?? [])];
  const guess = nearest(unknown, options);
  return `unknown option ${unknown}${guess ? `; did you mean ${guess}?` : ''}`;
}
