// The fuzzer's hostile dictionary: strings that broke, or could break, a parser, the policy
// engine, a header, a log line or a key; look-alike keys that other JSON parsers fold onto
// ours; and the values a type mutation puts where a string belongs.

/** Text that reaches ids, roles, query parameters, headers and paths. */
export const HOSTILE_STRINGS: readonly string[] = [
  '', ' ', '  ws-1  ', '\u0000', 'ws\u0000-1', 'org-1\u0000ws-1',
  '\ud800', 'ws-\udfff', '\udc00\ud800', 'ws-1\ud83d', '\ud83d\ude00',
  '\ufeffws-1', 'ws-1\u202e', '\u202e1-sw', 'ws\u200b-1', '\u200d', '\u2028', '\u0085', '\u00a0',
  'e\u0301', 'ws-1\u0300\u0301\u0302\u0303', '\u0301',
  'ws-1\r\nx-injected: 1', '\r\n', '\n', '\r', '\t', 'ws-1\u007f',
  '\uffff', '\ufffe', '\ufdd0', '\u{10ffff}',
  '__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', '__defineGetter__',
  'x'.repeat(256), 'x'.repeat(257), 'x'.repeat(5_000), 'x'.repeat(70_000),
  'workspaceID', 'WORKSPACE_ID', 'workspace_id', 'workſpace_id', 'workspaceId',
  'ᴡs-1', 'ws\u20101', 'WS-1', 'Ws-1', 'ws-1 ', 'ｗｓ-１',
  '../ws-1', '..', '.', '%2e%2e', '%00', '%ZZ', 'ws/1', 'ws?1', 'ws#1', 'ws:1', 'ws,1', 'ws;1', '*', '{}', '[]',
  'null', 'true', '0', '-1', 'NaN',
  'owner', 'admin', 'manager', 'member', 'create', 'read', 'root', 'OWNER',
  'ws-1', 'ws-2', 'org-1', 'org-2', 'u-1', 'é', '日本', '\u00ff',
];

/** Keys that mean "workspace id" to some parser or person, beside ours. */
export const LOOKALIKE_KEYS: readonly string[] = ['workspaceID', 'WORKSPACE_ID', 'workſpace_id', 'Workspace_Id', 'workspace_id\u200b', 'workspaceId', 'workspace-id'];

/** Keys that must change nothing. */
export const PROTO_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype', 'settings', 'allow', 'result'];

/** JSON text put where a string or object belongs (some only as raw text: 1e309 parses to Infinity). */
export const MUTATED_VALUES: readonly string[] = [
  'null', 'true', 'false', '0', '-0', '-1', '1.5', '1e308', '1e309', '-1e309', '9007199254740993', '[]', '["ws-1"]', '{}',
  '{"__proto__":{"allow":true}}', '{"ws-1":"manager"}', '""', '"\\ud800"', '[[[[[[[[[[]]]]]]]]]]',
];
