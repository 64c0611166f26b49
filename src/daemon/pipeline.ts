/**
 * The datagram's path, cheapest check first: server switch → source gate (bans, rates) →
 * server CIDRs → size + mac1 + open (wire) → replay → reassembly → policy → challenge →
 * dispatch. Synchronous up to dispatch, and free of sockets: the caller passes the
 * datagram, its source and a {@linkcode ReplyChannel}, so a test can drive it in-process.
 * Nothing is ever sent for a datagram that did not authenticate.
 * @module
 */
import { anyCidrContains, type IpAddress, parseIp } from "../util/ip.ts";
import type { SourceDefense } from "../policy/defense.ts";
import {
  CookieChecker,
  mac1OfV2,
  MAC2_LEN,
  type OpenedRequest,
  type Reassembler,
  type ReplayGuard,
  ReplyStatus,
  RequestFlag,
  SUITE_V2,
  type UserVerifier,
} from "../wire/mod.ts";
import type { Runtime, ServerRuntime } from "./runtime.ts";
import { decidePolicy } from "./policy.ts";
import type { Overrides } from "./overrides.ts";
import type { Drops } from "./drops.ts";
import {
  MAX_REPLY_DATAGRAM,
  type Replies,
  type ReplyChannel,
  type ReplyTarget,
} from "./replies.ts";
import type { Dispatcher } from "./dispatch.ts";
import type { DeadDrops } from "./deaddrops.ts";
import type { NonceBatcher } from "./nonces.ts";
import type { InFlight } from "./inflight.ts";
import type { LoadSignal } from "./load.ts";
import { TokenBucket } from "../policy/buckets.ts";
import { RepeatSightings } from "../policy/sightings.ts";
import { RecentCopies } from "../policy/recent_copies.ts";
import { isPoolFailure, type OpenPool, type PoolOpenResult } from "./open_pool.ts";
import type { SessionPath } from "./session_path.ts";
import type { RelayPaths } from "../actions/relay_paths.ts";

/** Cookie replies the daemon sends per second, all sources together (burst: two seconds). */
const COOKIE_REPLIES_PER_SECOND = 2000;
/**
 * Cookie replies per second, beyond that budget, to a source's retry: the same address and
 * port again within {@linkcode RETRY_WINDOW_MS} (burst: two seconds).
 */
const RETRY_COOKIES_PER_SECOND = 2000;
/** How long an unanswered source is remembered for its retry (ms). */
const RETRY_WINDOW_MS = 2000;
/** Slots of the table of unanswered sources (8 bytes each). */
const RETRY_SLOTS = 1 << 18;
/** How long an exact copy of a datagram is dropped before opening (ms). */
const COPY_WINDOW_MS = 2000;
/** Slots of the table of recent datagrams (8 bytes each). */
const COPY_SLOTS = 1 << 16;
/** Grace added to a nonce's lifetime beyond the clock-skew window. */
const NONCE_GRACE_MS = 1000;
/** The wire version clients must speak; older ones are told to upgrade. */
const WIRE_VERSION = SUITE_V2.version;
/** What an old client reads (it shows the reason of an error reply). */
export const OLD_CLIENT_REASON =
  "client_too_old: this server speaks siglatch wire protocol v2; update the siglatch client";

/** True when the datagram's last 16 bytes (mac2) are not all zero (~30 ns; no crypto). */
function hasMac2(datagram: Uint8Array): boolean {
  if (datagram.length < MAC2_LEN) return false;
  let bits = 0;
  for (let i = datagram.length - MAC2_LEN; i < datagram.length; i++) bits |= datagram[i];
  return bits !== 0;
}

/** The stages the pipeline hands work to. */
export interface PipelineOptions {
  /** The current runtime (swapped by reload). */
  runtime: () => Runtime;
  /** Runtime switches. */
  overrides: Overrides;
  /** Clock (epoch ms). */
  clock: () => number;
  /** Adds to a daemon counter. */
  count: (name: string) => void;
  /** Counts and logs refusals. */
  drops: Drops;
  /** Per-source rate limits and bans. */
  defense: SourceDefense;
  /** In-memory replay guard. */
  replay: ReplayGuard;
  /** Joins fragments. */
  reassembler: Reassembler;
  /** Durable nonces of pending fragments; absent in a dry run. */
  nonces?: NonceBatcher;
  /** Sends replies. */
  replies: Replies;
  /** Runs allowed requests. */
  dispatcher: Dispatcher;
  /** Raw datagrams by prefix. */
  deadDrops: DeadDrops;
  /** Tracks dispatched work. */
  inflight: InFlight;
  /** When loaded, unproven datagrams are answered with a cookie reply, never opened. */
  load: LoadSignal;
  /** The open workers, when there are (else datagrams are opened in the receive loop). */
  pool?: () => OpenPool | undefined;
  /** Handles an enroll request (src/enroll/); absent: enroll requests are dropped. */
  enroll?: (
    msg: OpenedRequest,
    reply: ReplyTarget,
    nonceExpiresAt: number,
    server: ServerRuntime,
  ) => Promise<void>;
  /** A user whose key rotation is pending authenticated with its new key. */
  userKeyConfirmed?: (userId: number) => void;
  /** Keys of invites and enrolled users not in the runtime's table yet. */
  enrollKey?: (id: number) => UserVerifier | undefined;
  /** Sessions (several commands after one handshake), when the daemon has them. */
  sessions?: SessionPath;
  /** Sessions passing through this daemon's relay actions (docs/RELAY.md). */
  relayPaths?: RelayPaths;
}

/** Runs datagrams through the stages. */
export class Pipeline {
  readonly #o: PipelineOptions;
  /** mac2 checkers and cookie replies, per server (kept across reloads of the same key). */
  readonly #cookies = new Map<
    string,
    { key: Uint8Array; previous?: Uint8Array; checker: CookieChecker }
  >();
  /** Cookie replies per second for the whole daemon. */
  readonly #cookieBudget = new TokenBucket(
    COOKIE_REPLIES_PER_SECOND,
    2 * COOKIE_REPLIES_PER_SECOND,
  );
  /** Cookie replies per second to retries (a source seen again), beyond the budget above. */
  readonly #retryBudget = new TokenBucket(
    RETRY_COOKIES_PER_SECOND,
    2 * RETRY_COOKIES_PER_SECOND,
  );
  /** Sources whose datagram got no cookie reply a moment ago. */
  readonly #unanswered = new RepeatSightings(RETRY_SLOTS, RETRY_WINDOW_MS);
  /** Datagrams (by mac1) on their way to an open: an exact copy is never opened. */
  readonly #copies = new RecentCopies(COPY_SLOTS, COPY_WINDOW_MS);

  /** Creates the pipeline over its stages. */
  constructor(opts: PipelineOptions) {
    this.#o = opts;
  }

  /**
   * Runs one datagram that arrived for `serverName` from `from`. `received` may be a view of
   * the receive loop's reused buffer: it is copied once its source passed the gate, so a
   * banned or rate-limited source costs no allocation at all.
   */
  handle(
    serverName: string,
    received: Uint8Array,
    from: Deno.NetAddr,
    channel: ReplyChannel,
  ): void | Promise<void> {
    const o = this.#o;
    const { drops } = o;
    o.count("received");
    const runtime = o.runtime();
    // server switch
    const server = runtime.servers.get(serverName);
    if (!server || !server.config.enabled || o.overrides.has("servers", serverName)) {
      return drops.drop("server_disabled", from);
    }
    // source gate: bans and per-source rates, before any copy or crypto
    const ip = parseIp(from.hostname);
    if (!ip) return drops.drop("bad_source", from);
    const cookies = this.#checker(server);
    const gate = o.defense.admit(ip);
    // A datagram of an open session (one map lookup) proves itself by its key, not by mac2;
    // from the session's own address and port it is not held to the per-source rate (a
    // stream's acks), only to bans.
    const gated = gate.ok ? "" : gate.reason;
    if (
      (gated === "" || gated === "pressure") && o.sessions?.claims(received) ||
      gated === "rate" && o.sessions?.claims(received, from)
    ) {
      if (!anyCidrContains(server.config.allow_cidrs, ip)) return drops.drop("server_cidr", from);
      return o.sessions.handle(serverName, received.slice(), from, channel, ip);
    }
    // A session relayed through here: from exactly the client that opened it, forwarded opaque.
    if (gated !== "banned" && gated !== "denied" && o.relayPaths?.claims(received, from)) {
      if (!anyCidrContains(server.config.allow_cidrs, ip)) return drops.drop("server_cidr", from);
      return o.relayPaths.forward(received.slice(), from);
    }
    // mac2: does the datagram prove its source address (a cookie we sent there)? Pressure
    // mode squeezes unproven sources only: a proven datagram passes (its check costs two
    // HMACs, an all-zero mac2 50 ns; never a public-key operation).
    let proven: boolean | undefined;
    if (!gate.ok) {
      if (gate.reason !== "pressure") return drops.drop(gate.reason, from);
      // mac1 first (one hash): random garbage never costs the mac2 HMACs.
      const mac1ok = server.opener.prefilter(received, true) === null;
      proven = mac1ok && cookies.checkMac2(received, from.hostname, from.port);
      if (!proven) {
        // A retry whose first datagram went unanswered still gets its cookie (never an open).
        if (mac1ok && anyCidrContains(server.config.allow_cidrs, ip)) {
          this.#askForCookie(cookies, received, from, channel, ip, true);
        }
        return drops.drop(gate.reason, from);
      }
    }
    if (!anyCidrContains(server.config.allow_cidrs, ip)) return drops.drop("server_cidr", from);
    const loaded = server.config.challenge_under_load && o.load.loaded;
    // Under load a datagram without mac2 is never opened: it costs at most a cookie reply,
    // and its mac1 is checked only when one would go out (beyond the budgets, most of a
    // flood's datagrams get none, and skipping their hash was 30 % of this path). Dead drops
    // carry no mac1: with dead drops configured every datagram goes the long way.
    if (loaded && proven === undefined && server.deadDrops.length === 0 && !hasMac2(received)) {
      o.count("cookie_gate");
      o.load.noteGated();
      this.#askForCookie(cookies, received, from, channel, ip);
      return;
    }
    // size and mac1: one hash, before any public-key work (under load, the newest version's
    // only: no old-client or wrong-mode diagnosis for a flood)
    const unfit = server.opener.prefilter(received, loaded);
    if (unfit !== null) {
      if (server.deadDrops.length > 0 && o.deadDrops.take(server, received.slice(), from)) {
        // Nothing proves who sent it: it costs its source tokens, like any failure.
        o.defense.failed(ip, "deaddrop", false);
        return;
      }
      o.defense.failed(ip, unfit, proven ?? false);
      return drops.drop(unfit, from);
    }
    // (after mac1, so random garbage never costs the mac2 HMACs)
    proven ??= cookies.checkMac2(received, from.hostname, from.port);

    // Under load, an unproven datagram costs no public-key work: it gets at most a
    // rate-limited cookie reply (a spoofed source never sees it) and is never opened, nor
    // copied out of the receive buffer (everything up to the open reads it synchronously).
    if (!proven && loaded) {
      o.count("cookie_gate");
      o.load.noteGated();
      this.#askForCookie(cookies, received, from, channel, ip);
      return;
    }

    // An exact copy of a datagram seen a moment ago (a first contact's second send, or an
    // attacker's resend) is never opened: the first one was. Counted, not logged (every
    // client without a cookie sends its request twice).
    const mac1 = mac1OfV2(received);
    if (mac1 !== undefined && this.#copies.seen(mac1, o.clock())) {
      o.count("drop_copy");
      return;
    }

    // Work after this turn (replies, exec stdin, dead drops) may keep views of it.
    const data = received.slice();

    // open: decrypt and authenticate, in a worker when there is a pool
    const pool = o.pool?.();
    if (!pool) {
      const users = runtime.users;
      const lookup = (id: number): UserVerifier | undefined =>
        users.get(id)?.verifier ?? o.enrollKey?.(id);
      return this.#opened(
        serverName,
        data,
        from,
        channel,
        ip,
        proven,
        server.opener.open(data, lookup),
      );
    }
    const pending = pool.open(serverName, data, proven);
    if (pending === undefined) return drops.drop("open_queue_full", from);
    const job = pending.then((r) => this.#opened(serverName, data, from, channel, ip, proven, r));
    o.inflight.track(job);
    return job.catch((err) => {
      o.count("handler_errors");
      drops.drop("internal", from, { err: String(err) });
    });
  }

  /** The rest of the path, once the datagram was opened (here or in a worker). */
  #opened(
    serverName: string,
    data: Uint8Array,
    from: Deno.NetAddr,
    channel: ReplyChannel,
    ip: IpAddress,
    proven: boolean,
    opened: PoolOpenResult,
  ): void {
    const o = this.#o;
    const { drops } = o;
    if (isPoolFailure(opened)) return drops.drop(`open_${opened.reason}`, from);
    // A reload may have happened while a worker opened it: look everything up again.
    const runtime = o.runtime();
    const server = runtime.servers.get(serverName);
    if (!server || !server.config.enabled || o.overrides.has("servers", serverName)) {
      return drops.drop("server_disabled", from);
    }
    const users = runtime.users;
    if (!opened.ok) {
      if (opened.replier && opened.msg && opened.userId !== undefined) {
        // Authenticated, but outside the time window: a replay or a wrong clock. Silence,
        // except a rate-limited hint to a source that proved its address just now.
        const user = users.get(opened.userId);
        o.defense.failed(ip, opened.reason, proven);
        drops.drop(opened.reason, from, { user: user?.config.name });
        if (proven && user && server.config.limits.explain_refusals) {
          o.replies.send(
            target(channel, from, data.length, opened.replier, opened.msg.nonce),
            ReplyStatus.ClockSkew,
            { reason: "clock_skew" },
          );
        }
        return;
      }
      o.defense.failed(ip, opened.reason, proven);
      return drops.drop(opened.reason, from);
    }
    const msg = opened.msg;
    if (msg.type === "chaff") {
      o.count("chaff");
      return;
    }
    // replay: silence, at every age
    const replayReason = o.replay.check(msg.nonce, msg.timestamp);
    if (replayReason !== null) {
      o.defense.failed(ip, replayReason, proven);
      return drops.drop(replayReason, from);
    }
    if (msg.type === "enroll" && o.enroll) {
      o.defense.succeeded(ip);
      o.replay.add(msg.nonce, msg.timestamp);
      const t = target(channel, from, data.length, opened.replier, msg.nonce);
      if (proven) t.budget = MAX_REPLY_DATAGRAM;
      if (opened.stale) t.notice = server.notice;
      const exp = msg.timestamp + server.config.limits.clock_skew + NONCE_GRACE_MS;
      o.inflight.track(o.enroll(msg, t, exp, server));
      return;
    }
    const user = users.get(msg.userId);
    if (!user) return drops.drop("unknown_user", from);
    o.defense.succeeded(ip);
    o.replay.add(msg.nonce, msg.timestamp);
    const nonceExpiresAt = msg.timestamp + server.config.limits.clock_skew + NONCE_GRACE_MS;
    const reply = target(channel, from, data.length, opened.replier, msg.nonce);
    if (proven) reply.budget = MAX_REPLY_DATAGRAM;
    if (opened.stale) reply.notice = server.notice; // rotated: tell the client the new key
    if (opened.oldUserKey) reply.userKey = user.keyNotice; // the user's new key, sealed to it
    else if (user.verifier.previousHmacKey) o.userKeyConfirmed?.(user.config.id);

    // An old client: tell it, in the format it reads, what to do (nothing runs).
    if (msg.version < WIRE_VERSION) {
      drops.drop("old_client", from, { user: user.config.name });
      o.replies.send(reply, ReplyStatus.Error, { reason: OLD_CLIENT_REASON });
      return;
    }
    const cookies = this.#checker(server);

    // reassembly
    let request: OpenedRequest = msg;
    if (msg.type === "fragment") {
      const whole = this.#reassemble(msg, from, nonceExpiresAt);
      if (!whole) return;
      request = whole;
    } else if (msg.type !== "request" && msg.type !== "keepalive") {
      return drops.drop("unexpected_type", from);
    }

    // policy
    const explain = server.config.limits.explain_refusals;
    const decision = decidePolicy({
      runtime,
      server,
      user,
      actionId: request.actionId,
      ip,
      payload: request.payload,
      now: o.clock(),
      disabled: o.overrides,
    });
    if (!decision.ok) {
      return o.dispatcher.refuse(reply, decision.reason, explain, {
        user: user.config.name,
        action: request.actionId,
      });
    }

    // challenge: prove the source address with a cookie round trip when the user or the
    // action asks for it, or when a firewall grant names no address to open (the grant
    // then goes to the proven source, never to whoever resent a copied packet).
    if (!proven && this.#wantsProof(user.config, decision.action.config, request)) {
      o.count("challenges");
      this.#askForCookie(cookies, data, from, channel, ip);
      return;
    }

    // a session: the action was checked; its commands come as session datagrams
    if ((request.flags & RequestFlag.Session) !== 0 && o.sessions) {
      const sessions = o.sessions;
      const fresh = o.nonces?.claim(request.nonce, nonceExpiresAt, true) ??
        Promise.resolve(true); // urgent: the session opens once it commits
      o.inflight.track(fresh.then(
        (ok) =>
          ok
            ? sessions.open(user.config.id, server.config.name, from, reply)
            : drops.drop("replay_cluster", from),
        () => o.count("state_errors"),
      ));
      return;
    }

    // dispatch
    o.inflight.track(o.dispatcher.accept({
      user,
      action: decision.action,
      server: server.config.name,
      ip,
      from: { hostname: from.hostname, port: from.port },
      channel,
      payload: request.payload,
      requestId: request.nonce.toHex(),
      allowAddress: request.allowAddress,
      sourceProven: proven,
      reply,
      nonce: request.nonce,
      retryId: request.retryId,
      nonceExpiresAt,
    }, explain));
  }

  /**
   * Sends a cookie reply: within a daemon-wide budget (a spoofed flood from random sources
   * would otherwise get one each: measured 9 % of the receive loop at 50k/s) unless the source
   * authenticated recently, or within a second budget when the source is retrying (the same
   * address and port again, which random sources almost never are), then the per-destination
   * reply rate; nothing when mac1 is not ours (checked here, before any token is spent).
   * `retryOnly`: only the retry budget (a source the gate squeezes under pressure).
   */
  #askForCookie(
    cookies: CookieChecker,
    data: Uint8Array,
    from: Deno.NetAddr,
    channel: ReplyChannel,
    ip: IpAddress,
    retryOnly = false,
  ): void {
    const o = this.#o;
    const now = o.clock();
    // A source that authenticated recently is answered outside the budgets: a spoofed flood
    // must not use up the cookies of the users we know.
    const known = !retryOnly && o.defense.gate.provenUntil(ip) > now;
    let budget: TokenBucket | undefined;
    if (!known) {
      if (!retryOnly && this.#cookieBudget.has(now)) budget = this.#cookieBudget;
      else if (
        this.#unanswered.repeated(from.hostname, from.port, now) && this.#retryBudget.has(now)
      ) budget = this.#retryBudget;
      else {
        if (!retryOnly) o.count("cookie_budget_spent");
        return;
      }
    }
    const answer = cookies.cookieReply(data, from.hostname, from.port);
    if (answer === undefined) return; // not mac1-valid for this server: no token, no reply
    budget?.take(now);
    if (budget === this.#retryBudget) o.count("cookie_retry_replies");
    if (o.replies.sendRaw(channel, from, answer)) o.count("cookie_replies");
  }

  #checker(server: ServerRuntime): CookieChecker {
    const name = server.config.name;
    const had = this.#cookies.get(name);
    const key = server.publicKey;
    // Same array: the common case, per datagram. After a reload, the same key in a new
    // array keeps its checker (and its cookies); the array is remembered for next time.
    // The previous key of a rotation's grace period gets cookie replies too (src/rotation/).
    const previous = server.previous?.x25519Public;
    if (had?.key === key && had.previous === previous) return had.checker;
    if (had && had.key.length === key.length && had.key.every((b, i) => b === key[i])) {
      had.key = key;
      had.previous = previous;
      had.checker.setPrevious(previous);
      return had.checker;
    }
    const checker = new CookieChecker(key, {
      clock: this.#o.clock,
      insecure: server.opener.mode === "insecure",
      previousPublic: previous,
    });
    this.#cookies.set(name, { key, previous, checker });
    return checker;
  }

  #wantsProof(
    user: { require_challenge: boolean },
    action: { require_challenge: boolean; type: string },
    request: OpenedRequest,
  ): boolean {
    return action.require_challenge || user.require_challenge ||
      ((action.type === "firewall" || action.type === "forward") &&
        request.allowAddress === undefined);
  }

  /**
   * Adds a fragment to its message; returns the whole message (as the completing
   * fragment's request, with the joined payload) when it is complete. Every fragment's nonce
   * is made durable as it arrives; the completing one is awaited in dispatch, and batches
   * commit in order, so a replayed set cannot run again after a restart.
   */
  #reassemble(
    msg: OpenedRequest,
    from: Deno.NetAddr,
    nonceExpiresAt: number,
  ): OpenedRequest | undefined {
    const o = this.#o;
    const res = o.reassembler.add(from.hostname, msg.userId, msg.sessionId, msg.payload);
    if (res.status === "rejected") {
      o.drops.drop(res.reason, from);
      return undefined;
    }
    if (res.status === "pending") {
      o.count("fragments_pending");
      o.nonces?.claim(msg.nonce, nonceExpiresAt).catch(() => o.count("state_errors"));
      return undefined;
    }
    o.count("fragmented_messages");
    return { ...msg, type: "request", payload: res.data };
  }
}

function target(
  channel: ReplyChannel,
  to: Deno.NetAddr,
  budget: number,
  sealer: ReplyTarget["sealer"],
  requestId: Uint8Array,
): ReplyTarget {
  return { channel, to, budget, sealer, requestId };
}
