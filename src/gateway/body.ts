// Fields of an original request's JSON body, read so that no upstream parser can read a
// different value: JSON.parse keeps the last of two equal keys (other parsers the first),
// and some match keys case-insensitively or after Unicode folding (Jackson's
// ACCEPT_CASE_INSENSITIVE_PROPERTIES, System.Text.Json's PropertyNameCaseInsensitive,
// ...). So the body is parsed here with every key kept, and a field whose key appears in
// more than one spelling, or in one spelling other than the route's, is ambiguous.
import { fold } from './lookalike.ts';

/** A JSON object with its keys as sent: repeated keys stay, in order. */
export class JsonEntries {
  constructor(readonly entries: [string, JsonNode][]) {}
}

export type JsonNode = string | number | boolean | null | JsonNode[] | JsonEntries;

export class BodySyntaxError extends Error {
  override name = 'BodySyntaxError';
}

/** Parses `text` as one JSON value, refusing nesting deeper than `maxDepth`. Linear in the text. */
export function parseBody(text: string, maxDepth: number): JsonNode {
  let at = 0;
  const fail = (what: string): never => {
    throw new BodySyntaxError(`${what} at offset ${at}`);
  };
  const skipSpace = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at]!)) at++;
  };
  const expect = (char: string) => {
    skipSpace();
    if (text[at] !== char) fail(`expected "${char}"`);
    at++;
  };
  const string = (): string => {
    const start = at;
    at++;
    while (at < text.length && text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    if (at >= text.length) fail('unterminated string');
    at++;
    try {
      // JSON.parse of one string token: escapes and control characters checked as JSON does.
      return JSON.parse(text.slice(start, at)) as string;
    } catch {
      return fail('invalid string');
    }
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (depth: number): JsonNode => {
    skipSpace();
    const char = text[at];
    if (char === '{' || char === '[') {
      if (depth >= maxDepth) fail(`nested deeper than ${maxDepth} levels`);
      at++;
      skipSpace();
      const close = char === '{' ? '}' : ']';
      const entries: [string, JsonNode][] = [];
      const items: JsonNode[] = [];
      if (text[at] === close) {
        at++;
      } else {
        for (;;) {
          if (char === '{') {
            skipSpace();
            if (text[at] !== '"') fail('expected a key');
            const key = string();
            expect(':');
            entries.push([key, value(depth + 1)]);
          } else {
            items.push(value(depth + 1));
          }
          skipSpace();
          if (text[at] === ',') at++;
          else if (text[at] === close) {
            at++;
            break;
          } else fail(`expected "," or "${close}"`);
        }
      }
      return char === '{' ? new JsonEntries(entries) : items;
    }
    if (char === '"') return string();
    for (const [word, literal] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return literal;
      }
    }
    NUMBER.lastIndex = at;
    const number = NUMBER.exec(text);
    if (!number) return fail('expected a value');
    at += number[0].length;
    return Number(number[0]);
  };
  const root = value(0);
  skipSpace();
  if (at !== text.length) fail('unexpected text after the value');
  return root;
}

export type Field = { found: false } | { found: true; value: JsonNode } | { found: 'ambiguous'; keys: string[] };

/** The field at `path` (object keys); ambiguous when a key on the way folds onto another or is not spelled as asked. */
export function bodyField(root: JsonNode, path: string[]): Field {
  let node = root;
  for (const name of path) {
    if (!(node instanceof JsonEntries)) return { found: false };
    const wanted = fold(name);
    const matches = node.entries.filter(([key]) => fold(key) === wanted);
    if (matches.length === 0) return { found: false };
    if (matches.length > 1 || matches[0]![0] !== name) return { found: 'ambiguous', keys: matches.map(([key]) => key) };
    node = matches[0]![1];
  }
  return { found: true, value: node };
}
