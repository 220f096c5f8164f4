// The sidecar's version, as package.json names it: in /v1/status, portcullis_build_info,
// the decision log's `version` label and the traces' service.version.
import { readFileSync } from 'node:fs';

export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
