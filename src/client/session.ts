/**
 * A client session (docs/PROTOCOL.md §18): one sealed request opens it (the one X25519 of
 * the whole session), then every command is a session datagram under the session key with
 * a fresh counter. A command that gets no answer is sent again with the SAME command number
 * (the server answers a retry from its kept results, the action does not run twice) and a new
 * counter (the old one would be a replay). One socket for the whole session: the server
 * accepts its datagrams only from the address and port that opened it.
 * @module
 */
import { RequestFlag } from "../wire/mod.ts";
import { decodeReplyBody } from "../wire/reply_body.ts";
import { ReplayWindow } from "../wire/replay_window.ts";
import {
  CommandFlag,
  deriveSessionKeys,
  encodeCommand,
  openSession,
  parseAnswer,
  sealSession,
  SessionC2S,
  sessionCounterOf,
  SessionFlag,
  sessionIdOf,
  type SessionKeys,
  SessionS2C,
} from "../wire/session.ts";
import { type SendOptions, sendRequest, type SendResult } from "./send.ts";

/** Address changes one command may prove (each a cookie round trip). */
const MAX_MOVES = 2;

/** Events the server keeps in flight (`src/daemon/session_stream.ts`); early ones kept: 4x. */
const STREAM_WINDOW = 64;

function joinBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Opening a session: the session, or the handshake's result when it did not open one. */
export type SessionOpen = { ok: true; session: ClientSession } | { ok: false; result: SendResult };

/** One command's result, as `sendRequest` reports a request's. */
export type CommandResult = SendResult;

/** A session with one server over one socket. */
export class ClientSession {
  /** The session id the server chose. */
  readonly id: bigint;
  #conn: Deno.DatagramConn;
  readonly #to: Deno.NetAddr;
  readonly #keys: SessionKeys;
  readonly #window = new ReplayWindow();
  readonly #timeoutMs: number;
  readonly #retries: number;
  #counter = 0;
  #cmd = 0;
  #pending?: Promise<[Uint8Array, Deno.Addr]>;
  #closed = false;

  private constructor(
    conn: Deno.DatagramConn,
    to: Deno.NetAddr,
    id: bigint,
    keys: SessionKeys,
    timeoutMs: number,
    retries: number,
  ) {
    this.#conn = conn;
    this.#to = to;
    this.id = id;
    this.#keys = keys;
    this.#timeoutMs = timeoutMs;
    this.#retries = retries;
  }

  /**
   * Opens a session: a request for `opts.actionId` (checked by policy, not run) with the
   * session flag. `opts.wait` is forced on. Through relays (`opts.via`) every datagram goes
   * to the first hop, which forwards the session's datagrams along the path the opening took.
   */
  static async open(opts: SendOptions): Promise<SessionOpen> {
    const first = opts.via?.[0] ?? opts;
    const host = first.host.includes(":") ? "::" : "0.0.0.0";
    const conn = Deno.listenDatagram({ transport: "udp", hostname: opts.bind ?? host, port: 0 });
    let keep = false;
    try {
      const result = await sendRequest({
        ...opts,
        wait: true,
        conn,
        flags: (opts.flags ?? 0) | RequestFlag.Session,
      });
      const data = result.body?.data as Record<string, unknown> | undefined;
      const idHex = typeof data?.session === "string" ? data.session : undefined;
      if (
        !result.answered || result.replyKey === undefined || !idHex || !/^[0-9a-f]{16}$/.test(idHex)
      ) {
        return { ok: false, result };
      }
      const id = BigInt(`0x${idHex}`);
      const addr = await resolved(first.host);
      keep = true;
      return {
        ok: true,
        session: new ClientSession(
          conn,
          { transport: "udp", hostname: addr, port: first.port },
          id,
          deriveSessionKeys(result.replyKey, id),
          opts.timeoutMs,
          opts.retries,
        ),
      };
    } finally {
      if (!keep) conn.close();
    }
  }

  /**
   * Runs one command and waits for its result, retrying on silence. Output of an action that
   * runs for a while or prints more than one datagram comes first as events, in order (each
   * acknowledged): to `onOutput` as it arrives when given (`stderr`: from the action's fd 2),
   * else joined into the result's body (`out` base64, stderr in `err`).
   */
  async run(
    actionId: number,
    payload: Uint8Array = new Uint8Array(),
    onOutput?: (chunk: Uint8Array, stderr: boolean) => void | Promise<void>,
  ): Promise<CommandResult> {
    if (this.#closed) throw new Error("session closed");
    const cmd = ++this.#cmd;
    const inner = encodeCommand({
      kind: SessionC2S.Command,
      cmd,
      flags: CommandFlag.Stream,
      actionId,
      seq: 0,
      payload,
    });
    const chunks: Uint8Array[] = [];
    const errChunks: Uint8Array[] = [];
    const early = new Map<number, { body: Uint8Array; stderr: boolean }>();
    let expected = 0;
    let attempt = 1;
    let tries = 1;
    let moves = 0;
    const sentAt = performance.now();
    await this.#conn.send(this.#seal(inner), this.#to);
    let deadline = sentAt + this.#timeoutMs;
    for (;;) {
      const data = await this.#receive(deadline);
      if (data === null) {
        if (tries > this.#retries) return { answered: false, attempts: attempt, cookieRounds: 0 };
        tries++;
        // The command again (same number: answered from the kept result, or "running"),
        // and, when streaming, what is missing.
        attempt++;
        await this.#conn.send(this.#seal(inner), this.#to);
        if (expected > 0) await this.#ack(cmd, expected);
        deadline = performance.now() + this.#timeoutMs;
        continue;
      }
      const a = this.#openAnswer(data);
      if (a?.kind === SessionS2C.Prove && moves < MAX_MOVES) {
        // Our address changed (NAT rebinding, a new network): prove the new one with the
        // cookie the server sent there, then send the command again (same number).
        moves++;
        await this.#conn.send(
          this.#seal(encodeCommand({
            kind: SessionC2S.Migrate,
            cmd,
            actionId: 0,
            seq: 0,
            payload: a.body,
          })),
          this.#to,
        );
        if (expected > 0) await this.#ack(cmd, expected);
        else await this.#conn.send(this.#seal(inner), this.#to);
        deadline = performance.now() + this.#timeoutMs;
        continue;
      }
      if (a === null || a.cmd !== cmd) continue;
      if (a.kind === SessionS2C.Event) {
        const isErr = (a.flags & SessionFlag.Stderr) !== 0;
        if (a.seq === expected) {
          let c: { body: Uint8Array; stderr: boolean } | undefined = {
            body: a.body,
            stderr: isErr,
          };
          for (; c !== undefined; c = early.get(expected)) {
            early.delete(expected);
            expected++;
            if (onOutput) await onOutput(c.body, c.stderr);
            else (c.stderr ? errChunks : chunks).push(c.body);
          }
        } else if (a.seq > expected && a.seq < expected + 4 * STREAM_WINDOW) {
          early.set(a.seq, { body: a.body, stderr: isErr });
        }
        await this.#ack(cmd, expected);
        tries = 1;
        deadline = performance.now() + this.#timeoutMs;
        continue;
      }
      if (a.kind === SessionS2C.Running) {
        tries = 1; // alive: wait on, as long as the action runs
        deadline = performance.now() + this.#timeoutMs;
        continue;
      }
      if (a.kind !== SessionS2C.Result) continue;
      const body = decodeReplyBody(a.body);
      if (chunks.length > 0) {
        body.out = joinBytes(chunks).toBase64();
        body.b64 = true;
      }
      if (errChunks.length > 0) body.err = new TextDecoder().decode(joinBytes(errChunks));
      return {
        answered: true,
        status: a.status,
        exitCode: a.exitCode,
        truncated: (a.flags & SessionFlag.Truncated) !== 0,
        body,
        attempts: attempt,
        rttMs: performance.now() - sentAt,
        cookieRounds: 0,
      };
    }
  }

  async #ack(cmd: number, next: number): Promise<void> {
    const inner = encodeCommand({
      kind: SessionC2S.Ack,
      cmd,
      actionId: 0,
      seq: next,
      payload: new Uint8Array(),
    });
    await this.#conn.send(this.#seal(inner), this.#to);
  }

  /** Tells the server the session is over (one datagram, unanswered) and closes the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      const inner = encodeCommand({
        kind: SessionC2S.Close,
        cmd: 0,
        actionId: 0,
        seq: 0,
        payload: new Uint8Array(),
      });
      await this.#conn.send(this.#seal(inner), this.#to);
    } catch {
      // the socket may be gone already
    }
    this.#conn.close();
    this.#pending?.catch(() => {});
  }

  /**
   * Moves to a new local socket (a new port; as after a NAT rebinding or a network change).
   * The server refuses the new address until the next command proves it (`run` does that).
   */
  rebind(hostname?: string): void {
    const local = (this.#conn.addr as Deno.NetAddr).hostname;
    this.#conn.close();
    this.#pending?.catch(() => {});
    this.#pending = undefined;
    this.#conn = Deno.listenDatagram({ transport: "udp", hostname: hostname ?? local, port: 0 });
  }

  /** Seals a raw inner message with the next counter (tests use it to replay and reorder). */
  sealRaw(inner: Uint8Array, counter?: number): Uint8Array {
    return sealSession(this.#keys.c2s, this.id, counter ?? this.#counter++, inner);
  }

  /** Sends raw bytes to the server from the session's socket (tests). */
  async sendRaw(datagram: Uint8Array): Promise<void> {
    await this.#conn.send(datagram, this.#to);
  }

  /** The next counter this client will use. */
  get counter(): number {
    return this.#counter;
  }

  #seal(inner: Uint8Array): Uint8Array {
    return sealSession(this.#keys.c2s, this.id, this.#counter++, inner);
  }

  #openAnswer(data: Uint8Array): ReturnType<typeof parseAnswer> {
    if (sessionIdOf(data) !== this.id) return null;
    const counter = sessionCounterOf(data);
    if (!this.#window.check(counter)) return null;
    const inner = openSession(this.#keys.s2c, data);
    if (inner === null) return null;
    this.#window.accept(counter);
    return parseAnswer(inner);
  }

  async #receive(deadline: number): Promise<Uint8Array | null> {
    const left = deadline - performance.now();
    if (left <= 0) return null;
    this.#pending ??= this.#conn.receive();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const got = await Promise.race([
      this.#pending,
      new Promise<null>((r) => timer = setTimeout(() => r(null), left)),
    ]);
    clearTimeout(timer);
    if (got === null) return null;
    this.#pending = undefined;
    return got[0];
  }
}

async function resolved(host: string): Promise<string> {
  if (/^[\d.]+$/.test(host) || host.includes(":")) return host;
  if (host === "localhost") return "127.0.0.1";
  try {
    const a = await Deno.resolveDns(host, "A");
    if (a.length > 0) return a[0];
  } catch {
    // fall through
  }
  return host;
}
