/**
 * The reply body: what an action's result or a refusal looks like inside a sealed reply.
 * JSON, kept small, and cut to fit a size budget (output first, flagged as truncated).
 * @module
 */

/** A system message delivered to clients. */
export interface SystemMessage {
  /** `notice` or `warning`. */
  level: "notice" | "warning";
  /** Text shown to the user. */
  text: string;
  /** Epoch ms after which it is no longer shown. */
  expires?: number;
}

/** The decoded reply body. */
export interface ReplyBody {
  /** Short machine reason for a refusal or error (`action_not_allowed`, `busy`, …). */
  reason?: string;
  /** Output (stdout) as text, or base64 when `b64` is set. */
  out?: string;
  /** True when `out` is base64 of binary output. */
  b64?: boolean;
  /** stderr tail as text, when the action failed. */
  err?: string;
  /** True when output was cut (by the action's cap or to fit the datagram). */
  cut?: boolean;
  /** System messages. */
  msgs?: SystemMessage[];
  /** Structured data (builtins such as list_actions). */
  data?: unknown;
  /** True when nothing was run (dry run). */
  dry?: boolean;
  /** A challenge cookie (base64): repeat the request with it. */
  cookie?: string;
  /** The server's new key after a rotation (docs/KEYS.md): the client rewrites its profile. */
  key?: KeyNotice;
  /** The user's new HMAC key (base64) after a user key rotation: the client rewrites its key file. */
  user_key?: { hmac: string };
  /** A session result whose output came before it as events (docs/PROTOCOL.md §18). */
  streamed?: { events: number; bytes: number };
}

/** Notice of the server's current key, in a reply to a request sealed to the previous one. */
export interface KeyNotice {
  /** The new X25519 public key, base64. */
  pub: string;
  /** Its certificate (docs/PROTOCOL.md §14), base64, when the server has an identity. */
  cert?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function isText(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** An encoded body and whether anything was cut to make it fit. */
export interface EncodedBody {
  /** The JSON bytes. */
  bytes: Uint8Array;
  /** True when output (or optional parts) were cut, here or by the action's cap. */
  cut: boolean;
}

/**
 * Encodes `body` with `output` attached, cutting the output first, then structured data,
 * never the reason or the system messages, so the whole fits in `maxBytes`.
 */
export function encodeReplyBody(
  body: ReplyBody,
  output: Uint8Array | undefined,
  maxBytes: number,
): EncodedBody {
  return encodeFitting(body, output, maxBytes);
}

function encodeFitting(
  body: ReplyBody,
  output: Uint8Array | undefined,
  maxBytes: number,
): EncodedBody {
  const attempt = (len: number, cut: boolean): Uint8Array => {
    const b: ReplyBody = { ...body };
    if (output && output.length > 0) {
      let slice = output.subarray(0, len);
      let text = isText(slice);
      // A cut may split a UTF-8 sequence: back off up to 3 bytes before falling to base64.
      for (let back = 1; text === undefined && back <= 3 && slice.length > back; back++) {
        const shorter = isText(output.subarray(0, len - back));
        if (shorter !== undefined && len < output.length) {
          text = shorter;
          slice = output.subarray(0, len - back);
        }
      }
      if (text !== undefined) b.out = text;
      else {
        b.out = slice.toBase64();
        b.b64 = true;
      }
    }
    if (cut || body.cut) b.cut = true;
    return encoder.encode(JSON.stringify(b));
  };
  const full = attempt(output?.length ?? 0, false);
  if (full.length <= maxBytes) return { bytes: full, cut: body.cut === true };
  let lo = 0, hi = output?.length ?? 0;
  let best = attempt(0, true);
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const enc = attempt(mid, true);
    if (enc.length <= maxBytes) {
      best = enc;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (best.length <= maxBytes) return { bytes: best, cut: true };
  // Even without output it does not fit: drop optional parts, data first, then messages.
  for (
    const smaller of [
      { reason: body.reason, msgs: body.msgs, dry: body.dry, cut: true },
      { reason: body.reason, cut: true },
    ]
  ) {
    const enc = encoder.encode(JSON.stringify(smaller));
    if (enc.length <= maxBytes) return { bytes: enc, cut: true };
  }
  return { bytes: new Uint8Array(), cut: true };
}

/** Decodes a reply body; an empty or malformed body gives `{}`. */
export function decodeReplyBody(bytes: Uint8Array): ReplyBody {
  if (bytes.length === 0) return {};
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes));
    return v && typeof v === "object" && !Array.isArray(v) ? v as ReplyBody : {};
  } catch {
    return {};
  }
}

/** The output of a decoded body as bytes. */
export function replyOutput(body: ReplyBody): Uint8Array {
  if (body.out === undefined) return new Uint8Array();
  if (!body.b64) return encoder.encode(body.out);
  return Uint8Array.fromBase64(body.out);
}
