// What every page shares: Preact with htm (one vendored ES module, no build step), the
// URL-as-state helpers (each view's filters live in the hash, so a view can be shared,
// and never a token), and small formatting helpers.
import { useEffect, useState } from './vendor/preact-htm.js';
export { html, render, useState, useEffect, useRef } from './vendor/preact-htm.js';

/** The view of a hash (the current one by default): `#/explorer?orgId=org-1` -> {page: 'explorer', params}. */
export function currentRoute(hash = location.hash) {
  const [page, search = ''] = hash.replace(/^#\/?/, '').split('?');
  return { page: page || 'settings', params: new URLSearchParams(search) };
}

/**
 * The organization a view is about. `orgId` is its one name in every view's URL; `org`, the
 * settings pages' earlier name, is still read so that old links keep working.
 */
export const orgOf = (params) => params.get('orgId') ?? params.get('org');

/** Moves to a view; `replace` keeps the browser history to one entry per view (filters typed in place). */
export function navigate(page, params = {}, { replace = false } = {}) {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '');
  const hash = `#/${page}${entries.length ? `?${new URLSearchParams(entries)}` : ''}`;
  if (replace) history.replaceState(null, '', hash);
  else location.hash = hash;
  dispatchEvent(new HashChangeEvent('hashchange'));
}

/** What would be lost by leaving the organization shown now (a sentence), or null: see useUnsaved. */
let unsaved = null;

/** While `message` is set, moving to another organization asks first (app.js asks). */
export function useUnsaved(message) {
  useEffect(() => {
    unsaved = message;
    return () => {
      if (unsaved === message) unsaved = null;
    };
  }, [message]);
}

/** True when nothing unsaved is in the way, or the person chose to leave it. */
export const mayLeave = () => unsaved === null || confirm(`${unsaved}. Leave it and lose the changes?`);

export const onOff = (value) => (value ? 'On' : 'Off');

export function formatTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? String(iso)
    : d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

/** A datetime-local value (UTC, to the minute) as ISO-8601, and back. */
export const fromLocalInput = (value) => (value ? `${value}:00Z` : '');
export const toLocalInput = (iso) => (iso ? iso.slice(0, 16) : '');

/** What changed between two flat-ish JSON documents: [{path, before, after}]. */
export function diff(before, after, prefix = '') {
  const changes = [];
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  for (const key of [...keys].sort()) {
    const a = before?.[key];
    const b = after?.[key];
    const path = prefix ? `${prefix}.${key}` : key;
    if (isObject(a) || isObject(b)) changes.push(...diff(isObject(a) ? a : {}, isObject(b) ? b : {}, path));
    else if (a !== b) changes.push({ path, before: a, after: b });
  }
  return changes;
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

export const show = (value) => (value === undefined || value === null ? '(unset)' : typeof value === 'boolean' ? onOff(value) : String(value));

/**
 * A cursor-paged list: its first page whenever `key` changes, the next on more().
 * `fetchPage(cursor)` answers {items, nextCursor}.
 */
export function usePages(fetchPage, key) {
  const [items, setItems] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  const load = async (more) => {
    try {
      const page = await fetchPage(more ? cursor : undefined);
      setItems((before) => (more ? [...before, ...page.items] : page.items));
      setCursor(page.nextCursor);
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    load(false);
  }, [key]);
  return { items, cursor, error, setError, more: () => load(true) };
}
