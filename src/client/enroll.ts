/**
 * `siglatch enroll`: turns an invite into a profile. Makes the user's Ed25519 key pair here
 * (the private key never leaves this machine), sends the public key in an enroll request
 * sealed to the invite's server key and authenticated by the invite's secret, waits while
 * the server says "pending" (an invite made with `--approve`), and writes the key file and
 * the profile (both mode 0600).
 * @module
 */
import { stringify } from "yaml";
import { ed25519PrivateToPem, generateEd25519 } from "../crypto/keys.ts";
import { ReplyStatus } from "../wire/mod.ts";
import { decodeInvite, type EnrollAnswer, enrollPayload } from "../enroll/invite.ts";
import { sendRequest } from "./send.ts";
import { verifyKeyCert } from "../crypto/keycert.ts";
import { constantTimeEqual } from "../crypto/ct.ts";

/** Options of {@linkcode enroll}. */
export interface EnrollOptions {
  /** Profile to write (`guest1.yaml`); the key goes next to it (`guest1.ed25519.pem`). */
  out: string;
  /** Per attempt, ms (default 2000). */
  timeoutMs?: number;
  /** Attempts after the first, per round (default 2). */
  retries?: number;
  /** How long to wait for an approval, ms (default 10 minutes). */
  waitMs?: number;
  /** Time between "pending" polls, ms (default 2000). */
  pollMs?: number;
  /** Told once when the server parks the enrollment for approval. */
  onPending?: (inviteId: number) => void;
  /** Told after each "pending" answer: waited so far and the longest wait (ms). */
  onWaiting?: (waitedMs: number, waitMs: number) => void;
  /** Overwrite an existing profile. */
  force?: boolean;
}

/** What enrollment produced. */
export interface Enrolled {
  /** The profile written. */
  profile: string;
  /** The private key file written. */
  keyFile: string;
  /** The new user's id. */
  userId: number;
  /** Its name. */
  name: string;
  /** When it stops existing (epoch ms). */
  notAfter: number;
}

function isAnswer(v: unknown): v is EnrollAnswer {
  if (typeof v !== "object" || v === null) return false;
  const a = v as Record<string, unknown>;
  if (a.state === "pending") return Number.isInteger(a.invite);
  return a.state === "enrolled" && Number.isInteger(a.user_id) && typeof a.name === "string" &&
    typeof a.actions === "object" && a.actions !== null && Number.isFinite(a.not_after);
}

/** Enrolls with `inviteText`; throws an Error saying why it could not. */
export async function enroll(inviteText: string, opts: EnrollOptions): Promise<Enrolled> {
  const inv = decodeInvite(inviteText);
  if (!opts.force) {
    try {
      await Deno.lstat(opts.out);
      throw new Error(`${opts.out} exists (use --force to overwrite)`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  const keys = generateEd25519();
  const payload = enrollPayload(keys.publicKey);
  const started = Date.now();
  const deadline = started + (opts.waitMs ?? 600_000);
  let toldPending = false;
  for (;;) {
    const r = await sendRequest({
      host: inv.host,
      port: inv.port,
      serverPublic: inv.serverPublic,
      userId: inv.id,
      auth: { kind: "hmac", key: inv.secret },
      actionId: 0,
      payload,
      wait: true,
      timeoutMs: opts.timeoutMs ?? 2000,
      retries: opts.retries ?? 2,
      allowObserved: false,
      type: "enroll",
    });
    if (!r.answered) {
      throw new Error(
        `no answer from ${inv.host}:${inv.port}: the invite expired, was revoked, or the server ` +
          "is not reachable",
      );
    }
    if (r.status !== ReplyStatus.Ok) {
      throw new Error(`enrollment refused: ${r.body?.reason ?? `status ${r.status}`}`);
    }
    const answer = r.body?.data;
    if (!isAnswer(answer)) throw new Error("enrollment: the server's answer is malformed");
    // An invite that pins the identity: every answer, from the first, proves the server's key.
    const serverKey = checkServerKey(inv.serverPublic, r.body?.key, answer, inv.identity);
    if (answer.state === "pending") {
      if (!toldPending) opts.onPending?.(answer.invite);
      toldPending = true;
      opts.onWaiting?.(Math.min(Date.now(), deadline) - started, deadline - started);
      if (Date.now() >= deadline) throw new Error("enrollment: still pending approval; gave up");
      await new Promise((res) => setTimeout(res, opts.pollMs ?? 2000));
      continue;
    }
    return await writeProfile(inv, answer, serverKey, keys.privateKey, opts.out);
  }
}

/**
 * The server key the profile gets: the invite's, or the new one a rotation notice in the
 * (authenticated) reply names. When the invite pins an identity, the answer must carry a
 * certificate for that key by that identity (and name no other identity); otherwise, when
 * the server sends its identity, the certificate must verify under it. The certificate must
 * be current and name the key, or nothing is written.
 */
function checkServerKey(
  inviteKey: Uint8Array,
  notice: unknown,
  a: EnrollAnswer,
  pin?: Uint8Array,
): Uint8Array {
  let key = inviteKey;
  const pub = (notice as { pub?: unknown } | undefined)?.pub;
  if (typeof pub === "string") {
    key = Uint8Array.fromBase64(pub);
    if (key.length !== 32) throw new Error("enrollment: the server's key notice is malformed");
  }
  if (pin === undefined && a.server_identity === undefined && a.server_key_cert === undefined) {
    return key;
  }
  if (pin !== undefined && a.server_key_cert === undefined) {
    throw new Error(
      "enrollment: the invite pins the server identity, the server sent no certificate",
    );
  }
  let identity: Uint8Array, cert: Uint8Array;
  try {
    identity = Uint8Array.fromBase64(a.server_identity ?? "");
    cert = Uint8Array.fromBase64(a.server_key_cert ?? "");
  } catch {
    throw new Error("enrollment: the server identity or certificate is not base64");
  }
  if (pin !== undefined) {
    if (a.server_identity !== undefined && !constantTimeEqual(identity, pin)) {
      throw new Error("enrollment: the server names another identity than the invite's pin");
    }
    identity = pin;
  }
  const v = verifyKeyCert(identity, cert, Date.now());
  if (!v.ok) throw new Error(`enrollment: the server key's certificate: ${v.reason}`);
  if (!constantTimeEqual(v.cert.key, key)) {
    throw new Error("enrollment: the certificate is for another key than the server's");
  }
  return key;
}

async function writeProfile(
  inv: ReturnType<typeof decodeInvite>,
  a: Extract<EnrollAnswer, { state: "enrolled" }>,
  serverKey: Uint8Array,
  privateKey: Uint8Array,
  out: string,
): Promise<Enrolled> {
  const base = out.replace(/\.ya?ml$/, "");
  const keyFile = `${base}.ed25519.pem`;
  const slash = keyFile.lastIndexOf("/");
  await Deno.writeTextFile(keyFile, ed25519PrivateToPem(privateKey), { mode: 0o600 });
  await Deno.chmod(keyFile, 0o600);
  const profile = {
    host: inv.host,
    port: inv.port,
    server_public_key: serverKey.toBase64(),
    ...(inv.identity !== undefined
      ? { server_identity: inv.identity.toBase64(), server_key_cert: a.server_key_cert }
      : a.server_identity !== undefined
      ? { server_identity: a.server_identity, server_key_cert: a.server_key_cert }
      : {}),
    user_id: a.user_id,
    ed25519_key_file: slash >= 0 ? keyFile.slice(slash + 1) : keyFile,
    actions: a.actions,
  };
  const tmp = `${out}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(
    tmp,
    `# ${a.name}: enrolled ${new Date().toISOString()}, expires ` +
      `${new Date(a.not_after).toISOString()}\n${stringify(profile)}`,
    { mode: 0o600 },
  );
  await Deno.chmod(tmp, 0o600);
  await Deno.rename(tmp, out);
  return { profile: out, keyFile, userId: a.user_id, name: a.name, notAfter: a.not_after };
}
