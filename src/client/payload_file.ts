/**
 * The payload of `siglatch send --file PATH`: a regular file read whole, refused before it
 * is read when it is larger than one request may carry (the daemon joins fragments of one
 * message up to {@linkcode MAX_REQUEST_PAYLOAD} bytes, `src/wire/reassembly.ts`).
 * @module
 */
import { DEFAULT_REASSEMBLY_LIMITS } from "../wire/reassembly.ts";

/** Most payload bytes one request carries (as fragments when over one datagram). */
export const MAX_REQUEST_PAYLOAD = DEFAULT_REASSEMBLY_LIMITS.maxMessageBytes;

/** Thrown with a message for the operator (file, size, limit). */
export class PayloadFileError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "PayloadFileError";
  }
}

/** Reads `path` as a payload of at most `limit` bytes. */
export async function readPayloadFile(
  path: string,
  limit = MAX_REQUEST_PAYLOAD,
): Promise<Uint8Array> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    throw new PayloadFileError(`--file ${path}: ${err instanceof Error ? err.message : err}`);
  }
  try {
    const info = await file.stat();
    if (!info.isFile) throw new PayloadFileError(`--file ${path}: not a regular file`);
    const tooBig = (n: number) =>
      new PayloadFileError(
        `--file ${path}: ${n} bytes, larger than the ${limit} bytes one request may carry ` +
          `(sent as fragments of ~1000 bytes each); split it or send a reference to it`,
      );
    if (info.size > limit) throw tooBig(info.size);
    // Read at most limit + 1 bytes: the file may grow between stat and read.
    const buf = new Uint8Array(limit + 1);
    let n = 0;
    while (n < buf.length) {
      const got = await file.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    if (n > limit) throw tooBig(n);
    return buf.slice(0, n);
  } finally {
    file.close();
  }
}
