/**
 * The datagram path of sessions (docs/PROTOCOL.md §18). `open` turns an authenticated request
 * that asked for a session into a table entry (keys from its reply key) and answers with the
 * session id; `handle` takes later session datagrams: known id, same source address and port
 * (no roaming), counter within the window, AEAD, limits, then policy again for every command
 * (an admin switch or a reload stops a session's next command) and the action through the
 * dispatcher. Every refusal of a session datagram is silence; no public-key work anywhere.
 * @module
 */
import { randomFillSync } from "node:crypto";
import type { IpAddress } from "../util/ip.ts";
import { hmacSha256 } from "../crypto/hkdf.ts";
import { constantTimeEqual } from "../crypto/ct.ts";
import { logger } from "../util/log.ts";
import { ReplyStatus } from "../wire/mod.ts";
import { encodeReplyBody, type ReplyBody } from "../wire/reply_body.ts";
import {
  CommandFlag,
  deriveSessionKeys,
  encodeAnswer,
  MAX_SESSION_BODY,
  openSession,
  parseCommand,
  sealSession,
  SESSION_COOKIE_LEN,
  SessionC2S,
  sessionCounterOf,
  SessionFlag,
  sessionIdBytes,
  sessionIdOf,
  SessionS2C,
} from "../wire/session.ts";
import { decidePolicy } from "./policy.ts";
import type { Runtime } from "./runtime.ts";
import type { Overrides } from "./overrides.ts";
import type { Drops } from "./drops.ts";
import type { Dispatcher } from "./dispatch.ts";
import type { InFlight } from "./inflight.ts";
import type { Replies, ReplyChannel, ReplyTarget } from "./replies.ts";
import { type Session, type SessionEnd, SessionTable } from "./session_table.ts";
import { sessionSummary } from "./session_audit.ts";
import { OutStream } from "./session_stream.ts";

/** Output bytes all streams together may hold; a result beyond it is cut, not streamed. */
export const MAX_STREAM_BYTES = 64 * 1024 * 1024;

/** A `prove` message goes to a new address of one session at most this often (ms). */
const PROVE_INTERVAL_MS = 250;
/** A migrate cookie is valid in its period and the next (ms). */
const COOKIE_PERIOD_MS = 120_000;
/** While sessions are open, ended ones are swept (and their summaries logged) this often (ms). */
const SWEEP_MS = 5_000;

/** What the session path needs. */
export interface SessionPathOptions {
  /** The current runtime (limits and policy are read from it on every datagram). */
  runtime: () => Runtime;
  /** Admin switches (disabled users and actions). */
  overrides: Overrides;
  /** Clock (epoch ms). */
  clock: () => number;
  /** Adds to a daemon counter. */
  count: (name: string) => void;
  /** Counts and logs refusals. */
  drops: Drops;
  /** Runs commands. */
  dispatcher: Dispatcher;
  /** Sends the answer to the opening request. */
  replies: Replies;
  /** Tracks running commands (a graceful stop waits for them). */
  inflight: InFlight;
}

/** Sessions: opening, and every later datagram of one. */
export class SessionPath {
  readonly #o: SessionPathOptions;
  readonly #log = logger("daemon");
  /** Output held by running streams (bounded by {@linkcode MAX_STREAM_BYTES}). */
  #streamBytes = 0;
  /** Keys the migrate cookies (per process: sessions end with it). */
  readonly #cookieSecret = randomFillSync(new Uint8Array(32));
  /** The open sessions. */
  readonly table: SessionTable;
  /** Sweeps ended sessions while any is open (an idle one would otherwise end unlogged). */
  #sweeper?: ReturnType<typeof setInterval>;

  /** Creates the path with an empty table. */
  constructor(opts: SessionPathOptions) {
    this.#o = opts;
    this.table = new SessionTable(
      opts.runtime().config.limits.sessions,
      opts.clock,
      (s, why) => this.#closed(s, why),
    );
  }

  /** Ends every session (each logs its summary) and stops the sweeper: the daemon stops. */
  stop(): void {
    this.table.closeAll("shutdown");
    this.#stopSweeper();
  }

  /** A session ended: its summary at info, what ran in it included. */
  #closed(s: Session, why: SessionEnd): void {
    const name = this.#o.runtime().users.get(s.userId)?.config.name ?? String(s.userId);
    const { message, fields } = sessionSummary(s, why, name, this.#o.clock());
    this.#log.info(message, fields);
    if (this.table.size === 0) this.#stopSweeper();
  }

  #stopSweeper(): void {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /**
   * True when `datagram` names an open session (one map lookup; no crypto) and, when `from`
   * is given, comes from that session's own address and port.
   */
  claims(datagram: Uint8Array, from?: Deno.NetAddr): boolean {
    if (this.table.size === 0) return false;
    const id = sessionIdOf(datagram);
    if (id === undefined) return false;
    if (from === undefined) return this.table.has(id);
    const s = this.table.peek(id);
    return s !== undefined && s.host === from.hostname && s.port === from.port;
  }

  /**
   * Opens a session for an authenticated, allowed request that asked for one and answers
   * with its id (or, when the table or the user is full, with `busy`: nothing is evicted).
   */
  open(
    userId: number,
    server: string,
    from: Deno.NetAddr,
    reply: ReplyTarget,
  ): void {
    const o = this.#o;
    this.table.limits = o.runtime().config.limits.sessions;
    const replyKey = reply.sealer.exportKey();
    const s = this.table.open(
      userId,
      server,
      from.hostname,
      from.port,
      (id) => deriveSessionKeys(replyKey, id),
    );
    if (typeof s === "string") {
      o.drops.drop(s, from);
      o.replies.send(reply, ReplyStatus.Busy, { reason: s });
      return;
    }
    o.count("sessions_opened");
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => this.table.sweep(), SWEEP_MS);
      Deno.unrefTimer(this.#sweeper);
    }
    this.#log.info("session opened user={user} src={ip} port={port} session={session}", {
      decision: "session",
      user: o.runtime().users.get(userId)?.config.name,
      ip: from.hostname,
      port: from.port,
      session: s.id.toString(16).padStart(16, "0"),
    });
    const l = this.table.limits;
    o.replies.send(reply, ReplyStatus.Ok, {
      data: {
        session: s.id.toString(16).padStart(16, "0"),
        idle_ms: l.idle,
        lifetime_ms: l.lifetime,
        max_messages: l.max_messages,
      },
    });
  }

  /** Handles a datagram `claims` accepted; silence for every refusal. */
  handle(
    serverName: string,
    data: Uint8Array,
    from: Deno.NetAddr,
    channel: ReplyChannel,
    ip: IpAddress,
  ): void | Promise<void> {
    const o = this.#o;
    const runtime = o.runtime();
    this.table.limits = runtime.config.limits.sessions;
    const s = this.table.get(sessionIdOf(data)!);
    if (s === undefined) return o.drops.drop("session_ended", from);
    if (s.server !== serverName) return o.drops.drop("session_unknown", from);
    const counter = sessionCounterOf(data);
    if (!s.window.check(counter)) return o.drops.drop("session_replay", from);
    const inner = openSession(s.keys.c2s, data);
    if (inner === null) return o.drops.drop("session_decrypt_failed", from);
    // Only the address and port that opened it (and received its id), until the client
    // proves a new one with a cookie round trip.
    if (from.hostname !== s.host || from.port !== s.port) {
      return this.#roam(s, data, inner, counter, from, channel);
    }
    s.window.accept(counter);
    s.lastSeen = o.clock();
    s.messages++;
    const msg = parseCommand(inner);
    if (msg === null) return o.drops.drop("session_bad_inner", from);
    if (msg.kind === SessionC2S.Close) {
      o.count("sessions_closed");
      this.table.close(s);
      return;
    }
    if (msg.kind === SessionC2S.Ack) {
      if (s.stream?.cmd === msg.cmd) s.stream.ack(msg.seq);
      return;
    }
    o.count("session_messages");
    const kept = s.results.get(msg.cmd);
    if (kept !== undefined) {
      // A retry: the answer again, the action not again; still running: say so (the
      // client keeps waiting, however long the action takes).
      if (kept !== null) { for (const d of kept) this.#send(channel, s, d); }
      else {
        const running = encodeAnswer({
          kind: SessionS2C.Running,
          status: 0,
          flags: 0,
          cmd: msg.cmd,
          exitCode: 0,
          seq: 0,
          body: new Uint8Array(),
        });
        this.#send(channel, s, sealSession(s.keys.s2c, s.id, s.sendCounter++, running));
      }
      o.count("session_retries");
      return;
    }
    const server = runtime.servers.get(serverName);
    const user = runtime.users.get(s.userId);
    if (!server || !user) {
      this.table.close(s, "user_gone");
      return o.drops.drop("session_user_gone", from);
    }
    const decision = decidePolicy({
      runtime,
      server,
      user,
      actionId: msg.actionId,
      ip,
      payload: msg.payload,
      now: o.clock(),
      disabled: o.overrides,
    });
    if (!decision.ok) {
      s.refused++;
      o.drops.drop(decision.reason, from, { user: user.config.name, action: msg.actionId });
      const answer = server.config.limits.explain_refusals
        ? { status: ReplyStatus.Denied, body: { reason: decision.reason } }
        : { status: ReplyStatus.Denied, body: {} };
      this.#answer(channel, s, msg.cmd, answer.status, answer.body);
      return;
    }
    this.table.keep(s, msg.cmd, null);
    const actionName = decision.action.config.name;
    s.ran.set(actionName, (s.ran.get(actionName) ?? 0) + 1);
    // A command that accepts a stream: output goes as events while the action runs.
    const streams = ((msg.flags ?? 0) & CommandFlag.Stream) !== 0 && !s.stream;
    const live = streams ? this.#openStream(channel, s, msg.cmd) : undefined;
    const job = o.dispatcher.runCommand({
      user,
      action: decision.action,
      server: serverName,
      ip,
      from: { hostname: from.hostname, port: from.port },
      payload: msg.payload,
      // 32 hex digits like a request id: the session id, then the command number.
      requestId: s.id.toString(16).padStart(16, "0") + msg.cmd.toString(16).padStart(16, "0"),
      sourceProven: true,
      allowAddress: undefined,
      onOutput: live?.push,
    }).then((out) => {
      const exit = out.exitCode ?? 0;
      if (live) {
        // Output a handler returned without streaming it (a builtin): into the stream too,
        // when it does not fit one result.
        if (!live.pushed() && out.output && !this.#fits(out.body, out.output)) {
          live.push(1, out.output);
        }
        if (live.finish(out.status, out.body, exit)) return; // the result follows the events
      }
      this.#answer(channel, s, msg.cmd, out.status, out.body, out.output, exit);
    });
    o.inflight.track(job);
    return job;
  }

  /**
   * A valid datagram of `s` from another address: nothing runs. A `migrate` carrying the
   * cookie of this new address moves the session there; anything else is answered, at most
   * every 250 ms and never with more bytes than it had, by a `prove` message (sealed: only the
   * session's client can read the cookie in it) sent to the new address. The counter is not
   * recorded, so the same datagram from the session's own address still counts.
   */
  #roam(
    s: Session,
    data: Uint8Array,
    inner: Uint8Array,
    counter: number,
    from: Deno.NetAddr,
    channel: ReplyChannel,
  ): void {
    const o = this.#o;
    const now = o.clock();
    const msg = parseCommand(inner);
    const epoch = Math.floor(now / COOKIE_PERIOD_MS);
    if (msg?.kind === SessionC2S.Migrate && msg.payload.length === SESSION_COOKIE_LEN) {
      const ok = constantTimeEqual(msg.payload, this.#migrateCookie(s, from, epoch)) ||
        constantTimeEqual(msg.payload, this.#migrateCookie(s, from, epoch - 1));
      if (ok) {
        s.window.accept(counter);
        s.lastSeen = now;
        s.messages++;
        this.#log.info("session moved src={ip} port={port} session={session}", {
          decision: "session_moved",
          from: `${s.host}:${s.port}`,
          ip: from.hostname,
          port: from.port,
          session: s.id.toString(16).padStart(16, "0"),
        });
        s.host = from.hostname;
        s.port = from.port;
        o.count("sessions_moved");
        return;
      }
    }
    o.drops.drop("session_roam", from);
    if (now - s.provedAt < PROVE_INTERVAL_MS) return;
    const answer = sealSession(
      s.keys.s2c,
      s.id,
      s.sendCounter,
      encodeAnswer({
        kind: SessionS2C.Prove,
        status: 0,
        flags: 0,
        cmd: msg?.cmd ?? 0,
        exitCode: 0,
        seq: 0,
        body: this.#migrateCookie(s, from, epoch),
      }),
    );
    if (answer.length > data.length || channel.closed) return; // no amplification
    s.sendCounter++;
    s.provedAt = now;
    o.count("session_proves");
    channel.send(answer, from);
  }

  /** The cookie that proves `from` for session `s` in period `epoch`. */
  #migrateCookie(s: Session, from: Deno.NetAddr, epoch: number): Uint8Array {
    const e = new Uint8Array(10);
    const v = new DataView(e.buffer);
    v.setUint32(0, Math.floor(epoch / 2 ** 32));
    v.setUint32(4, epoch >>> 0);
    v.setUint16(8, from.port);
    return hmacSha256(
      this.#cookieSecret,
      sessionIdBytes(s.id),
      e,
      new TextEncoder().encode(from.hostname),
    ).subarray(0, SESSION_COOKIE_LEN);
  }

  /** True when the body with this output fits one result datagram uncut. */
  #fits(body: ReplyBody, output: Uint8Array): boolean {
    return output.length <= MAX_SESSION_BODY &&
      !encodeReplyBody(body, output, MAX_SESSION_BODY).cut;
  }

  /**
   * A stream for command `cmd` (the session proved its address): `push` takes output as it
   * is read (bounded by {@linkcode MAX_STREAM_BYTES} for all streams: beyond it output is
   * dropped and the result says `cut`); `finish` ends it and returns true when events went
   * out, so the result (without the output, with `streamed`) follows when every event arrived;
   * false when the output is small enough to go with the result as usual.
   */
  #openStream(channel: ReplyChannel, s: Session, cmd: number): {
    push: (fd: 1 | 2, chunk: Uint8Array) => void;
    pushed: () => boolean;
    finish: (status: number, body: ReplyBody, exitCode: number) => boolean;
  } {
    const o = this.#o;
    let held = 0;
    let bytes = 0;
    let dropped = false;
    let stderr = false;
    let result: { status: number; body: ReplyBody; exitCode: number } | undefined;
    const stream = new OutStream(cmd, {
      event: (seq, chunk, isErr) => {
        o.count("session_events");
        const inner = encodeAnswer({
          kind: SessionS2C.Event,
          status: 0,
          flags: isErr ? SessionFlag.Stderr : 0,
          cmd,
          exitCode: 0,
          seq,
          body: chunk,
        });
        this.#send(channel, s, sealSession(s.keys.s2c, s.id, s.sendCounter++, inner));
      },
      done: (events) => {
        if (s.stream === stream) s.stream = undefined;
        const r = result!;
        const body: ReplyBody = { ...r.body, streamed: { events, bytes } };
        if (stderr) delete body.err; // it came as events
        if (dropped) body.cut = true;
        this.#answer(channel, s, cmd, r.status, body, undefined, r.exitCode);
      },
      abandoned: () => {
        if (s.stream === stream) s.stream = undefined;
        o.count("session_streams_abandoned");
        this.#answer(channel, s, cmd, ReplyStatus.Error, { reason: "stream_abandoned" });
      },
      released: () => {
        this.#streamBytes -= held;
        held = 0;
      },
    }, o.clock);
    s.stream = stream;
    return {
      push: (fd, chunk) => {
        if (stream.over) return;
        if (this.#streamBytes + chunk.length > MAX_STREAM_BYTES) {
          dropped = true;
          return;
        }
        this.#streamBytes += chunk.length;
        held += chunk.length;
        bytes += chunk.length;
        if (fd === 2) stderr = true;
        stream.push(fd, chunk);
      },
      pushed: () => bytes > 0,
      finish: (status, body, exitCode) => {
        result = { status, body, exitCode };
        if (stream.over) return true; // abandoned (answered) or the session ended
        const inline = stream.end();
        if (inline === undefined) {
          o.count("session_streams");
          return true;
        }
        if (s.stream === stream) s.stream = undefined;
        return false;
      },
    };
  }

  /** Seals a command's result, keeps it for retries and sends it. */
  #answer(
    channel: ReplyChannel,
    s: Session,
    cmd: number,
    status: number,
    body: ReplyBody,
    output?: Uint8Array,
    exitCode = 0,
  ): void {
    // A session proved its address: a full-size datagram, never more than 1200 bytes.
    const encoded = encodeReplyBody(body, output, MAX_SESSION_BODY);
    const inner = encodeAnswer({
      kind: SessionS2C.Result,
      status,
      flags: SessionFlag.Final | (encoded.cut ? SessionFlag.Truncated : 0),
      cmd,
      exitCode,
      seq: 0,
      body: encoded.bytes,
    });
    const datagram = sealSession(s.keys.s2c, s.id, s.sendCounter++, inner);
    this.table.keep(s, cmd, [datagram]);
    this.#send(channel, s, datagram);
  }

  #send(channel: ReplyChannel, s: Session, datagram: Uint8Array): void {
    if (channel.closed) return;
    channel.send(datagram, { transport: "udp", hostname: s.host, port: s.port });
  }
}
