// The layers of src/, top first: a module may import modules of the layers below its own,
// never one above or beside it. A module is a folder of src/ or a file at its top. Written
// once here; the layering test checks the code and docs/architecture.md against it.
export const LAYERS: readonly (readonly string[])[] = [
  // The process: reads the config, starts workers or one sidecar.
  ['main'],
  // Assembles everything from one config object.
  ['sidecar'],
  // The doors: the HTTP API (which mounts the gateways and the console) and the command line.
  ['http', 'cli'],
  ['gateway', 'console'],
  // Who may ask (tokens, caller admission) and the dangerous modes an instance runs in.
  ['access', 'warnings'],
  // Consumers of decision records: the OPA-style decision logs reuse the audit's masking.
  ['decisionlogs'],
  ['audit'],
  // Deciding: the request, the decider, the record it hands off, its trace.
  ['decision'],
  // Settings and the directory, validated against the bundle's families table.
  ['settings'],
  // The bundle: loading, verifying, evaluating the policy, the families table it carries.
  ['engine'],
  // Redis connections, and the buffered sink (queue, spill file, replay) the record writers share.
  ['redis', 'sink'],
  ['metrics', 'workers'],
  // Leaves: import no other module.
  ['stats', 'config', 'errors', 'ids', 'json', 'log', 'stages'],
  // Where the package's own files are (the config resolves its default paths with it), and the
  // did-you-mean of error messages (the config's unknown keys among them).
  ['package', 'suggest'],
];
