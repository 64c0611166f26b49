/**
 * The enroll stage: an opened, authenticated `enroll` request (its user id is an invite
 * id, its HMAC key the invite's secret) becomes a pending or enrolled user, answered in the
 * request's sealed reply. Its nonce is made durable first, so a replayed enroll datagram
 * gets nothing, even after a restart or on another node of a cluster.
 * @module
 */
import { type OpenedRequest, ReplyStatus } from "../wire/mod.ts";
import type { ReplyBody } from "../wire/reply_body.ts";
import { logger } from "../util/log.ts";
import { INVITE_ID_MIN, parseEnrollPayload } from "./invite.ts";
import type { Enrollment } from "./registry.ts";

/** Options of {@linkcode EnrollStage}. */
export interface EnrollStageOptions<T> {
  /** Invites and enrolled users. */
  registry: Enrollment;
  /** Sends the sealed reply. */
  send: (target: T, status: number, body: ReplyBody) => void;
  /** Makes the nonce durable; false when it was seen before (anywhere in the cluster). */
  claim?: (nonce: Uint8Array, expiresAt: number) => Promise<boolean>;
  /** Adds to a daemon counter. */
  count: (name: string) => void;
}

/** Handles enroll requests. */
export class EnrollStage<T> {
  readonly #o: EnrollStageOptions<T>;
  readonly #log = logger("enroll");

  /** Creates the stage. */
  constructor(opts: EnrollStageOptions<T>) {
    this.#o = opts;
  }

  /** Handles one enroll request that opened and passed the in-memory replay guard. */
  async handle(
    msg: OpenedRequest,
    reply: T,
    nonceExpiresAt: number,
    identity?: { server_identity: string; server_key_cert: string },
  ): Promise<void> {
    const o = this.#o;
    // Only an invite's secret enrolls; a user's own key never does.
    if (msg.userId < INVITE_ID_MIN) return o.count("enroll_not_invite");
    if (o.claim && !(await o.claim(msg.nonce, nonceExpiresAt))) return o.count("replay_durable");
    const key = parseEnrollPayload(msg.payload);
    if (!key) {
      o.count("enroll_refused");
      return o.send(reply, ReplyStatus.Denied, { reason: "bad_enroll_payload" });
    }
    let r;
    try {
      r = await o.registry.enroll(msg.userId, key);
    } catch (err) {
      this.#log.error("enroll: state store failed: {err}", { err: String(err) });
      r = "state_error" as const;
    }
    if (typeof r === "string") {
      o.count("enroll_refused");
      this.#log.info("enroll with invite {invite} refused: {reason}", {
        invite: msg.userId,
        reason: r,
      });
      return o.send(reply, ReplyStatus.Denied, { reason: r });
    }
    o.count(r.state === "pending" ? "enroll_pending" : "enrolled");
    if (r.state === "enrolled") {
      this.#log.info("enrolled {name} as user {id} (invite {invite})", {
        name: r.name,
        id: r.user_id,
        invite: msg.userId,
      });
    }
    o.send(reply, ReplyStatus.Ok, {
      // Pending answers too: an invite that pins the identity checks it from the first one.
      data: identity ? { ...r, ...identity } : r,
    });
  }
}
