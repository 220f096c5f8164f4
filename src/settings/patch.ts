// JSON merge patch (RFC 7396) for the admin API's PATCH: null removes a field, objects
// merge, anything else replaces. The result is validated like a PUT body by the caller.
import { isJsonObject } from '../json.ts';

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return patch;
  const result: Record<string, unknown> = {};
  // defineProperty, not assignment: a "__proto__" key in the body stays a plain (unknown, refused) field.
  const set = (key: string, value: unknown) => Object.defineProperty(result, key, { value, enumerable: true, writable: true, configurable: true });
  if (isJsonObject(target)) for (const [key, value] of Object.entries(target)) set(key, value);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else set(key, mergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value));
  }
  return result;
}
