// The one rule for identifiers (organization, workspace, principal and resource ids)
// that every API, the gateways, the settings API and the CLI apply before an id goes
// anywhere: into the policy (opa-wasm aborts on a lone surrogate), into a Redis key, a
// response header or a log line. An id is opaque, but it is text a person could read:
//   - 1 to MAX_ID_LENGTH UTF-16 code units;
//   - well-formed Unicode (no lone surrogates), no white space at either end;
//   - no control characters (U+0000-U+001F, DEL, U+0080-U+009F: NUL, CR, LF, ...), no format characters
//     (zero-width spaces and joiners, bidi marks and overrides, the BOM), no
//     line and paragraph separators (U+2028, U+2029: line breaks to JavaScript and many
//     log viewers), no noncharacters (U+FFFE, U+FFFF, ...): invisible characters make two different
//     ids look the same to a person reading an audit record.

export const MAX_ID_LENGTH = 256;

const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Noncharacter_Code_Point}]/u;

/** Why `value` is not an id, or undefined when it is one. */
export function idProblem(value: unknown): string | undefined {
  if (value === undefined) return 'is required';
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (value.length > MAX_ID_LENGTH) return `must be at most ${MAX_ID_LENGTH} characters`;
  if (!value.isWellFormed()) return 'must be well-formed Unicode (it has a lone surrogate)';
  const invisible = INVISIBLE.exec(value);
  if (invisible) {
    const code = invisible[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    return `must not contain control, format, line-separator or noncharacter code points (found U+${code})`;
  }
  // Many parsers trim: " ws-1" would be "ws-1" to them and not to us.
  if (/^\s|\s$/u.test(value)) return 'must not start or end with white space';
  return undefined;
}

export function isId(value: unknown): value is string {
  return idProblem(value) === undefined;
}

/**
 * A caller's key as it can be shown in an error: a JSON string with every code unit
 * outside printable ASCII escaped, so no control, bidi or invisible character (nor a
 * lone surrogate) reaches a client, a terminal or a log line as itself.
 */
export function quoted(key: string): string {
  return JSON.stringify(key).replace(/[^\x20-\x7e]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
