// The chunks of a decision-log upload, as OPA's decision-log plugin makes them: a JSON array
// of events, gzip-compressed, at most the upload size limit (compressed bytes, OPA's
// upload_size_limit_bytes). Pure: the caller keeps the compression ratio learnt so far and
// passes it in, so the first guess of how many events fit is usually right.
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';

const gzip = promisify(gzipCallback);

export type Chunk =
  /** The first `count` lines, as the compressed body; `ratio` is the guess for the next chunk. */
  | { count: number; body: Buffer; ratio: number }
  /** The first line alone exceeds the limit: it can never be sent. */
  | { count: 1; body: undefined; ratio: number };

/**
 * The longest prefix of `lines` (serialized events; at least one) whose gzip-compressed
 * JSON array stays within `limit` bytes. The first guess is what `ratio` (uncompressed
 * characters per compressed byte) says fits; it is halved until it does.
 */
export async function encodeChunk(lines: readonly string[], limit: number, ratio: number): Promise<Chunk> {
  let count = 0;
  for (let chars = 2; count < lines.length; count++) {
    chars += lines[count]!.length + 1;
    if (count > 0 && chars > limit * ratio) break;
  }
  for (;;) {
    const json = '[' + lines.slice(0, count).join(',') + ']';
    const body = await gzip(json);
    // Aim a little below what this chunk achieved, so the next first guess usually fits.
    if (body.length <= limit) return { count, body, ratio: Math.max(1, (0.9 * json.length) / body.length) };
    if (count === 1) return { count: 1, body: undefined, ratio };
    count = Math.ceil(count / 2);
  }
}
