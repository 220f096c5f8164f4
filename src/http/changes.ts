// The settings-change records of the admin API. The actor is the name of the admin token
// that made the change; the X-Actor header a calling service may send is kept only as a
// note, masked and bounded, because anything a caller sends there is stored for years and
// shown to auditors: a credential pasted into it must not be.
import type { Request, Response } from 'express';
import { createMasker, REDACTED } from '../audit/mask.ts';
import { settingsChange, type AuditLog, type DecisionRecord, type SettingsChangeRecord } from '../decision/record.ts';
import { idProblem, MAX_ID_LENGTH } from '../ids.ts';
import { tokenOf } from './auth.ts';
import type { AdminTokens } from '../access/tokens.ts';

// A bare opaque string long enough to be a key (API keys, session ids, hex or base64
// secrets): letters and digits mixed, no spaces. A name or an e-mail address is not one.
const OPAQUE_SECRET = /^(?=[^ ]*\d)(?=[^ ]*[A-Za-z])[A-Za-z0-9+/=_\-.~]{24,}$/;
const KEY_RUN = /[A-Za-z0-9+/=_\-.~]+/g;
// The audit log's own credential rules (Bearer/Basic values, JWTs), applied to a one-field record.
const auditMasker = createMasker([]);

/** The X-Actor note as it may be stored, or undefined when there is none worth keeping. */
export function actorNote(header: string | undefined, tokens: AdminTokens): string | undefined {
  const note = header?.replace(/\s+/g, ' ').trim().slice(0, MAX_ID_LENGTH);
  if (!note || idProblem(note)) return undefined;
  const masked = (auditMasker({ note } as unknown as DecisionRecord) as unknown as { note: string }).note;
  if (masked !== note) return REDACTED;
  // Every word, and every run of key characters inside one, so that punctuation around a
  // token ("(tok)", "tok.", "key:tok!") does not hide it.
  const candidates = [...note.split(' '), ...(note.match(KEY_RUN) ?? [])];
  if (candidates.some((word) => OPAQUE_SECRET.test(word) || tokens.identify(word) !== undefined)) return REDACTED;
  return note;
}

export type ChangeRecorder = (
  req: Request,
  res: Response,
  change: Pick<SettingsChangeRecord, 'orgId' | 'operation' | 'before' | 'after' | 'version'> & { workspaceId?: string; family?: string },
) => void;

export function changeRecorder(audit: Pick<AuditLog, 'recordSettingsChange'>, tokens: AdminTokens): ChangeRecorder {
  return (req, res, { orgId, workspaceId, family, operation, before, after, version }) => {
    audit.recordSettingsChange(
      settingsChange({ actor: tokenOf(res).name, note: actorNote(req.get('x-actor'), tokens), orgId, workspaceId, family, operation, before, after, version }),
    );
  };
}
