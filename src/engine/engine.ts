// The compiled policy, instantiated with @open-policy-agent/opa-wasm. One engine per
// bundle: a new bundle makes a new engine, so an engine never changes under a caller.
// An evaluation that aborts may leave the WASM instance's memory corrupt (opa-wasm
// aborts on some inputs, and after enough aborts every later evaluation fails), so the
// engine never evaluates on an instance that has aborted: it discards it and builds a
// fresh one from the same compiled module and data before the failure is reported.
// Evaluation goes through the ABI's one-call opa_eval itself (see evaluateJson) rather than
// opa-wasm's evaluate, which builds a TextEncoder, a copy of the input and a TextDecoder
// per call: the decision path's input is written straight into WASM memory instead.
import { createRequire } from 'node:module';
import type { LoadedPolicy, loadPolicySync as LoadPolicySync } from '@open-policy-agent/opa-wasm';
import { familiesFromData, type Families } from './families.ts';
import { BundleError, type Bundle } from './bundle.ts';
import { stageClock, stageEnd, stagesOn } from '../stages.ts';

// The ESM entry of opa-wasm exports only the asynchronous loadPolicy; a rebuild happens
// inside the failed evaluation, so it needs the synchronous loader of the CommonJS entry
// (the same opa.js module, loaded once).
const { loadPolicySync } = createRequire(import.meta.url)('@open-policy-agent/opa-wasm') as { loadPolicySync: typeof LoadPolicySync };

export const DECISION_ENTRYPOINT = 'portkey/authz/decision';
/** The policy's sentence for each reason code (the `messages` rule), shown beside audit records, which store only the code. */
export const MESSAGES_ENTRYPOINT = 'portkey/authz/messages';

export type SettingSource = 'workspace' | 'org' | 'default';

/** The `decision` document of policies/authz.rego. */
export interface PolicyDecision {
  allow: boolean;
  reason: string;
  message: string;
  setting?: string;
  source?: SettingSource;
  /** The scope the request needed, when the principal is an API key. */
  scope?: string;
  /** On reads of the data Data Visibility governs: all of it, or only what the principal's own API keys produced. */
  visibility?: Visibility;
  /** With visibility own_api_keys: the user (and the key) the data is limited to. */
  visibleTo?: VisibleTo;
}

export type Visibility = 'all' | 'own_api_keys';

export interface VisibleTo {
  userId: string;
  apiKeyIds?: string[];
}

/**
 * An evaluation aborted or threw inside the WASM. The instance that failed has already
 * been replaced by a fresh one, so the next evaluation runs on a clean instance.
 */
export class EvaluationError extends Error {
  override name = 'EvaluationError';
}

export interface EngineOptions {
  /** Called once per discarded instance, after its replacement is built (count it, log it). */
  onRebuild?: (reason: string) => void;
}

/** The exports of OPA's WASM ABI (>= 1.2) that the engine calls itself. */
interface OpaExports {
  opa_eval(reserved: 0, entrypoint: number, data: number, input: number, inputLength: number, heap: number, format: 0): number;
}

const WASM_PAGE_BYTES = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class PolicyEngine {
  private constructor(
    private readonly module: WebAssembly.Module,
    private readonly data: Record<string, unknown>,
    private policy: LoadedPolicy,
    private readonly onRebuild: (reason: string) => void,
    readonly revision: string,
    readonly entrypoints: readonly string[],
    /** The bundle's permission families (data.portkey.families): the settings that exist. */
    readonly families: Families,
  ) {}

  private messages: Readonly<Record<string, string>> = {};

  /** Reason code → sentence, evaluated once at load; empty for a bundle built without the messages entrypoint. */
  get reasons(): Readonly<Record<string, string>> {
    return this.messages;
  }

  static async load(bundle: Bundle, options: EngineOptions = {}): Promise<PolicyEngine> {
    const families = familiesFromData(bundle.data);
    let module: WebAssembly.Module;
    let policy: LoadedPolicy;
    try {
      // Compiled once per bundle: a rebuild is only an instantiation.
      module = await WebAssembly.compile(new Uint8Array(bundle.wasm));
      policy = instantiate(module, bundle.data);
    } catch (error) {
      throw new BundleError(`policy.wasm does not load: ${describe(error)}`);
    }
    const entrypoints = Object.keys(policy.entrypoints as Record<string, number>);
    if (!entrypoints.includes(DECISION_ENTRYPOINT)) {
      throw new BundleError(`policy.wasm has no ${DECISION_ENTRYPOINT} entrypoint (has: ${entrypoints.join(', ')})`);
    }
    const engine = new PolicyEngine(module, bundle.data, policy, options.onRebuild ?? (() => undefined), bundle.manifest.revision, entrypoints, families);
    engine.decide({}); // a bundle that cannot evaluate is refused at load, not on the first request
    if (entrypoints.includes(MESSAGES_ENTRYPOINT)) engine.messages = reasonsOf(engine.evaluate(MESSAGES_ENTRYPOINT, {}));
    return engine;
  }

  /** Evaluates the decision entrypoint. Throws if the policy yields no decision. */
  decide(input: object): PolicyDecision {
    return this.decideJson(JSON.stringify(input));
  }

  /** decide() for an input already encoded as JSON (the decision cache's key is that text). */
  decideJson(inputJson: string): PolicyDecision {
    const result = this.evaluateText(DECISION_ENTRYPOINT, inputJson);
    if (!isDecision(result)) throw new BundleError(`${DECISION_ENTRYPOINT} returned ${JSON.stringify(result)}`);
    return result;
  }

  /**
   * The value of an entrypoint for this input; undefined when the rule is undefined.
   * Throws EvaluationError when the evaluation fails, after replacing the instance.
   */
  evaluate(entrypoint: string, input: object): unknown {
    return this.evaluateText(entrypoint, JSON.stringify(input));
  }

  private evaluateText(entrypoint: string, inputJson: string): unknown {
    let resultSet: Array<{ result: unknown }>;
    try {
      resultSet =
        this.policy.minorVersion >= 2 ? evaluateJson(this.policy, entrypoint, inputJson) : this.policy.evaluate(JSON.parse(inputJson) as object, entrypoint);
    } catch (error) {
      const reason = describe(error);
      // The module and data instantiated once already, so this does not fail for
      // reasons of its own; if it ever did, that error (not an EvaluationError) is a 500.
      this.policy = instantiate(this.module, this.data);
      this.onRebuild(reason);
      throw new EvaluationError(`policy evaluation failed: ${reason}`);
    }
    return resultSet[0]?.result;
  }

  /** Bytes of WASM linear memory, watched for heap growth. */
  get memoryBytes(): number {
    return this.policy.mem.buffer.byteLength;
  }
}

/** Only the string entries of the messages document: it is the bundle's, so it is checked like any input. */
function reasonsOf(value: unknown): Record<string, string> {
  const reasons: Record<string, string> = {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return reasons;
  for (const [code, message] of Object.entries(value)) if (typeof message === 'string') reasons[code] = message;
  return reasons;
}

/**
 * opa-wasm's ABI 1.2 evaluation path, without its per-call allocations: the input's JSON
 * is encoded straight into the WASM heap above the data (where opa-wasm puts it too), one
 * opa_eval call evaluates it, and the result set is read from the NUL-terminated JSON it
 * returns. Same exports, same addresses, same result as LoadedPolicy.evaluate.
 */
function evaluateJson(policy: LoadedPolicy, entrypoint: string, inputJson: string): Array<{ result: unknown }> {
  const entrypoints = policy.entrypoints as Record<string, number>;
  if (!Object.hasOwn(entrypoints, entrypoint)) throw `entrypoint ${entrypoint} is not valid in this instance`;
  const memory = policy.mem;
  const inputAddr = policy.dataHeapPtr as number;
  let started = stagesOn ? stageClock() : 0;
  let { read, written } = encoder.encodeInto(inputJson, new Uint8Array(memory.buffer, inputAddr));
  if (read < inputJson.length) {
    // Not enough memory above the data: grow it by what the input can take (UTF-8 needs at
    // most 3 bytes per UTF-16 code unit) and encode it again.
    memory.grow(Math.ceil((inputAddr + inputJson.length * 3 - memory.buffer.byteLength) / WASM_PAGE_BYTES));
    ({ read, written } = encoder.encodeInto(inputJson, new Uint8Array(memory.buffer, inputAddr)));
  }
  const exports = (policy.wasmInstance as WebAssembly.Instance).exports as unknown as OpaExports;
  if (stagesOn) started = stageEnd('input encoding', started);
  const resultAddr = exports.opa_eval(0, entrypoints[entrypoint]!, policy.dataAddr, inputAddr, written, inputAddr + written, 0);
  if (stagesOn) started = stageEnd('evaluation', started);
  // The evaluation may have grown the memory: view it afresh.
  const heap = new Uint8Array(memory.buffer);
  const resultSet = JSON.parse(decoder.decode(heap.subarray(resultAddr, heap.indexOf(0, resultAddr)))) as Array<{ result: unknown }>;
  if (stagesOn) stageEnd('result decoding', started);
  return resultSet;
}

function instantiate(module: WebAssembly.Module, data: Record<string, unknown>): LoadedPolicy {
  const policy = loadPolicySync(module);
  policy.setData(data);
  return policy;
}

/** opa-wasm throws plain strings as well as Errors. */
function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isDecision(value: unknown): value is PolicyDecision {
  const d = value as PolicyDecision | undefined;
  return typeof d === 'object' && d !== null && typeof d.allow === 'boolean' && typeof d.reason === 'string';
}
