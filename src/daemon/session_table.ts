/**
 * The open sessions: bounded in total and per user, and new ones are refused when full
 * (never an open one evicted, so a flood of handshakes cannot push out proven sessions).
 * A session ends on idle time-out, at its maximum lifetime, after its maximum message
 * count, or when its client closes it. Only the table and its limits; the datagram path is
 * `session_path.ts`.
 * @module
 */
import { randomFillSync } from "node:crypto";
import type { SessionKeys } from "../wire/session.ts";
import { ReplayWindow } from "../wire/replay_window.ts";
import type { OutStream } from "./session_stream.ts";

/** Session limits (config `limits.sessions`; durations in ms). */
export interface SessionLimits {
  /** Most sessions in total; 0 turns sessions off. */
  max: number;
  /** Most sessions of one user. */
  per_user: number;
  /** Idle time-out (ms). */
  idle: number;
  /** Maximum lifetime (ms). */
  lifetime: number;
  /** Most datagrams from the client. */
  max_messages: number;
}

/** Results a session keeps to answer a retried command without running it again. */
const KEPT_RESULTS = 8;

/** One open session. */
export interface Session {
  /** The id on the wire. */
  readonly id: bigint;
  /** The user who opened it. */
  readonly userId: number;
  /** The server it belongs to. */
  readonly server: string;
  /** The client's address (the only source accepted; moved only by a proven `migrate`). */
  host: string;
  /** The client's port. */
  port: number;
  /** Epoch ms of the last `prove` message sent (they are rate-limited per session). */
  provedAt: number;
  /** Keys per direction. */
  readonly keys: SessionKeys;
  /** Receive window over the client's counters. */
  readonly window: ReplayWindow;
  /** The server's next counter. */
  sendCounter: number;
  /** Epoch ms it opened. */
  readonly opened: number;
  /** Epoch ms of the last valid datagram. */
  lastSeen: number;
  /** Valid datagrams from the client. */
  messages: number;
  /** Answers by command number (`null`: still running), newest last, bounded. */
  readonly results: Map<number, Uint8Array[] | null>;
  /** The output being streamed (one at a time per session). */
  stream?: OutStream;
  /** Commands run, by action name (the close summary's audit trail). */
  readonly ran: Map<string, number>;
  /** Commands refused by policy. */
  refused: number;
}

/** Why a session ended (the close summary says it). */
export type SessionEnd =
  | "closed"
  | "idle"
  | "lifetime"
  | "max_messages"
  | "user_gone"
  | "user_removed"
  | "shutdown";

/** Why a session could not be opened. */
export type OpenRefusal = "sessions_off" | "sessions_full" | "sessions_user_full";

/** The bounded table of open sessions. */
export class SessionTable {
  #limits: SessionLimits;
  readonly #clock: () => number;
  readonly #byId = new Map<bigint, Session>();
  readonly #perUser = new Map<number, number>();
  readonly #onClose?: (s: Session, why: SessionEnd) => void;

  /** An empty table; `onClose` hears of every session that ends, once. */
  constructor(
    limits: SessionLimits,
    clock: () => number,
    onClose?: (s: Session, why: SessionEnd) => void,
  ) {
    this.#limits = limits;
    this.#clock = clock;
    this.#onClose = onClose;
  }

  /** The limits (changed by reload; open sessions keep running under the new ones). */
  get limits(): SessionLimits {
    return this.#limits;
  }

  set limits(l: SessionLimits) {
    this.#limits = l;
  }

  /** Open sessions. */
  get size(): number {
    return this.#byId.size;
  }

  /** True when a session with this id is open (the pipeline's cheap routing test). */
  has(id: bigint): boolean {
    return this.#byId.has(id);
  }

  /** The session by id, ended or not (no clock, no sweep). */
  peek(id: bigint): Session | undefined {
    return this.#byId.get(id);
  }

  /** The session, or undefined when unknown or ended (an ended one is removed now). */
  get(id: bigint): Session | undefined {
    const s = this.#byId.get(id);
    if (s === undefined) return undefined;
    const over = this.#over(s, this.#clock());
    if (over !== undefined) {
      this.close(s, over);
      return undefined;
    }
    return s;
  }

  /**
   * Opens a session for `userId` from `host:port`, with keys derived by `keysFor(id)`;
   * refused (nothing evicted) when the table or the user is at its limit. Ended sessions
   * are swept first, so only live ones count.
   */
  open(
    userId: number,
    server: string,
    host: string,
    port: number,
    keysFor: (id: bigint) => SessionKeys,
  ): Session | OpenRefusal {
    const l = this.#limits;
    if (l.max === 0) return "sessions_off";
    const now = this.#clock();
    if (this.#byId.size >= l.max || (this.#perUser.get(userId) ?? 0) >= l.per_user) this.sweep();
    if (this.#byId.size >= l.max) return "sessions_full";
    if ((this.#perUser.get(userId) ?? 0) >= l.per_user) return "sessions_user_full";
    let id = 0n;
    while (id === 0n || this.#byId.has(id)) {
      id = new DataView(randomFillSync(new Uint8Array(8)).buffer).getBigUint64(0);
    }
    const s: Session = {
      id,
      userId,
      server,
      host,
      port,
      keys: keysFor(id),
      window: new ReplayWindow(),
      sendCounter: 0,
      provedAt: 0,
      opened: now,
      lastSeen: now,
      messages: 0,
      results: new Map(),
      ran: new Map(),
      refused: 0,
    };
    this.#byId.set(id, s);
    this.#perUser.set(userId, (this.#perUser.get(userId) ?? 0) + 1);
    return s;
  }

  /** Ends a session (`why`: for the close summary; default the client closed it). */
  close(s: Session, why: SessionEnd = "closed"): void {
    if (this.#byId.get(s.id) !== s) return;
    s.stream?.stop();
    this.#byId.delete(s.id);
    const n = (this.#perUser.get(s.userId) ?? 1) - 1;
    if (n <= 0) this.#perUser.delete(s.userId);
    else this.#perUser.set(s.userId, n);
    this.#onClose?.(s, why);
  }

  /** Ends every session of a user (e.g. the user was removed). */
  closeUser(userId: number): void {
    for (const s of [...this.#byId.values()]) {
      if (s.userId === userId) this.close(s, "user_removed");
    }
  }

  /** Ends every session (the daemon stops). */
  closeAll(why: SessionEnd): void {
    for (const s of [...this.#byId.values()]) this.close(s, why);
  }

  /** Removes every session past its idle time, lifetime or message count. */
  sweep(): void {
    const now = this.#clock();
    for (const s of [...this.#byId.values()]) {
      const over = this.#over(s, now);
      if (over !== undefined) this.close(s, over);
    }
  }

  /** Remembers the answer(s) to a command (`null`: running), keeping the newest few. */
  keep(s: Session, cmd: number, answers: Uint8Array[] | null): void {
    s.results.delete(cmd);
    s.results.set(cmd, answers);
    if (s.results.size > KEPT_RESULTS) {
      const oldest = s.results.keys().next().value as number;
      s.results.delete(oldest);
    }
  }

  #over(s: Session, now: number): SessionEnd | undefined {
    const l = this.#limits;
    if (now - s.lastSeen > l.idle) return "idle";
    if (now - s.opened > l.lifetime) return "lifetime";
    if (s.messages >= l.max_messages) return "max_messages";
    return undefined;
  }
}
