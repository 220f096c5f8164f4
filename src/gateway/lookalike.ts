// When two names are one name to somebody else's parser: the folding the gateway applies
// to route literals and JSON body keys, so that a request cannot name a protected route
// or field in a spelling the route table misses but the upstream accepts.

/**
 * Characters some parsers drop or never show — controls, format characters (zero-width,
 * BOM, bidi) and combining marks — and the word separators that naming strategies map
 * between (workspace_id, workspace-id, workspaceId are one field to a camelCase binder).
 */
const IGNORED = /[\p{Cc}\p{Cf}\p{Mn}_-]/gu;

/**
 * `text` after Unicode compatibility folding (NFKC: fullwidth letters, U+017F long s),
 * case folding both ways (upper then lower, so that dotless i and the Kelvin sign meet
 * their ASCII letters as Java's equalsIgnoreCase and .NET's OrdinalIgnoreCase see them),
 * and without what does not show or separates words (so "workspace\u200b_id",
 * "\ufeffworkspace_id", "workspaceId" and the dotted capital I's combining dot all fold
 * onto "workspaceid").
 */
export function fold(text: string): string {
  return text.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFD').replace(IGNORED, '');
}

/** At most this many rounds of decoding: enough for any real double encoding, bounded for hostile input. */
const MAX_DECODE_ROUNDS = 4;

/**
 * A path segment with its percent-encoding decoded until nothing is left to decode (an
 * upstream that decodes twice sees `%252D` as `-`); stops at the first round that is not
 * valid percent-encoded UTF-8.
 */
export function decodeSegment(segment: string): string {
  let text = segment;
  for (let round = 0; round < MAX_DECODE_ROUNDS && text.includes('%'); round++) {
    try {
      text = decodeURIComponent(text);
    } catch {
      break;
    }
  }
  return text;
}
