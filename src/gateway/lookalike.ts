// When two names are one name to somebody else's parser: the folding the gateway applies
// to route literals and JSON body keys, so that a request cannot name a protected route
// or field in a spelling the route table misses but the upstream accepts.

/**
 * `text` after Unicode compatibility folding (NFKC: fullwidth letters, U+017F long s) and
 * case folding both ways (upper then lower, so that dotless i and the Kelvin sign meet
 * their ASCII letters as Java's equalsIgnoreCase and .NET's OrdinalIgnoreCase see them).
 */
export function fold(text: string): string {
  return text.normalize('NFKC').toUpperCase().toLowerCase();
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
