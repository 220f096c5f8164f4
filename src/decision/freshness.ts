// Read-your-writes across instances: a settings write answers the organization's new
// version, and a decision request may ask for settings at least that new
// (`minSettingsVersion`, in the body or in a header). The store reads past its cache when
// its snapshot is older (SettingsStore.snapshot); this module reads the request's side.
import { ApiError, CODE, FIELD_CODE, invalidInput } from '../errors.ts';
import type { SettingsStaleError } from '../settings/types.ts';

export const MIN_SETTINGS_VERSION_FIELD = 'minSettingsVersion';
/** The header form, for callers that cannot add a field to the body (an OPA client). */
export const MIN_SETTINGS_VERSION_HEADER = 'X-Portcullis-Min-Settings-Version';

/** A version as the settings API answers it: a non-negative integer (JSON number or, in a header, its digits). */
export function readMinSettingsVersion(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  const version = typeof value === 'string' && /^\d{1,15}$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof version === 'number' && Number.isSafeInteger(version) && version >= 0) return version;
  throw invalidInput([
    { field, code: FIELD_CODE.invalid, message: 'must be a settings version: a non-negative integer, as a settings write answers it (X-Settings-Version)' },
  ]);
}

/** The stricter of the body's and the header's versions; undefined when neither asks. */
export function minSettingsVersion(body: unknown, header: string | string[] | undefined): number | undefined {
  const fromBody = readMinSettingsVersion(body, MIN_SETTINGS_VERSION_FIELD);
  const fromHeader = readMinSettingsVersion(Array.isArray(header) ? header.join(',') : header, MIN_SETTINGS_VERSION_HEADER);
  if (fromBody === undefined) return fromHeader;
  return fromHeader === undefined ? fromBody : Math.max(fromBody, fromHeader);
}

/** 503: this instance could not see the settings version asked for; it does not answer from older settings. */
export function settingsStale(error: SettingsStaleError): ApiError {
  return new ApiError(503, CODE.settings_stale, `${error.message}: not decided from older settings; retry shortly`, [], {
    settingsVersion: String(error.current),
  });
}
