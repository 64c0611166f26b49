/**
 * One command's output sent as sealed `event` messages (docs/PROTOCOL.md §18) while the
 * action runs: `push` adds output as it is read (stdout and stderr apart), `end` says there
 * is no more. Sequence numbers 0, 1, 2…, at most `WINDOW` events unacknowledged; the client's
 * `ack` names the next sequence number it needs (everything before arrived). A repeated ack
 * resends that event at once (after three), a tick without progress resends what is in
 * flight, and a stream without progress for `STALL_MS` is abandoned. When the output ended
 * and every event is acknowledged, `done` sends the final result. Small output that has not
 * gone out yet when it ends goes with the result instead (`end` returns it).
 * @module
 */
import { MAX_SESSION_BODY } from "../wire/session.ts";

/** Events in flight at most. */
export const WINDOW = 64;
/** Resend what is in flight when nothing was acknowledged for this long (ms). */
const TICK_MS = 150;
/** Abandon a stream without progress for this long (ms). */
const STALL_MS = 15_000;
/** Output held back before the first event, hoping it all fits the result (ms). */
const FIRST_EVENT_MS = 50;
/** Output that may still go with the result instead of as events (bytes). */
const INLINE_MAX = 768;

/** What a stream needs from its session. */
export interface StreamSink {
  /** Seals and sends event `seq` with `chunk` (`stderr`: from fd 2). */
  event(seq: number, chunk: Uint8Array, stderr: boolean): void;
  /** Every event arrived: send the final result. */
  done(events: number): void;
  /** The stream was abandoned (no progress). */
  abandoned(): void;
  /** The stream is over (done, abandoned or stopped): its output may be forgotten. Once. */
  released(): void;
}

interface Event {
  data: Uint8Array;
  stderr: boolean;
}

/** The output of one command, streamed. */
export class OutStream {
  /** The command it answers. */
  readonly cmd: number;
  readonly #sink: StreamSink;
  readonly #clock: () => number;
  /** Events by seq (acknowledged ones are cleared). */
  readonly #events: (Event | undefined)[] = [];
  /** Output not yet cut into events (the last, partial chunk of each fd). */
  #partial: { 1: Uint8Array[]; 2: Uint8Array[] } = { 1: [], 2: [] };
  #partialBytes = { 1: 0, 2: 0 };
  /** First unacknowledged event. */
  #base = 0;
  /** Next never-sent event. */
  #next = 0;
  #dups = 0;
  #progressAt: number;
  #tickedAt: number;
  #timer?: ReturnType<typeof setInterval>;
  #over = false;
  #ended = false;
  /** False until the first event may go out (small output waits for the result). */
  #started = false;
  #startTimer?: ReturnType<typeof setTimeout>;

  /** A stream for command `cmd`; nothing goes out before output does. */
  constructor(cmd: number, sink: StreamSink, clock: () => number) {
    this.cmd = cmd;
    this.#sink = sink;
    this.#clock = clock;
    this.#progressAt = this.#tickedAt = clock();
  }

  /** True once finished or abandoned. */
  get over(): boolean {
    return this.#over;
  }

  /** True once an event went out (the result can no longer carry the output). */
  get started(): boolean {
    return this.#started;
  }

  /** Number of events so far. */
  get count(): number {
    return this.#events.length;
  }

  /** Adds output as it is read. */
  push(fd: 1 | 2, chunk: Uint8Array): void {
    if (this.#over || this.#ended || chunk.length === 0) return;
    this.#partial[fd].push(chunk.slice());
    this.#partialBytes[fd] += chunk.length;
    this.#cut(fd, false);
    if (!this.#started) {
      if (this.#events.length > 0) this.#start();
      else this.#startTimer ??= setTimeout(() => this.#start(), FIRST_EVENT_MS);
      return;
    }
    this.#fill();
  }

  /**
   * No more output. When no event went out yet, returns what there was (stdout, stderr) for
   * the result to carry and ends the stream; else streams the rest, then `done`.
   */
  end(): { stdout: Uint8Array; stderr: Uint8Array } | undefined {
    if (this.#ended) return undefined;
    this.#ended = true;
    if (this.#startTimer !== undefined) clearTimeout(this.#startTimer);
    if (!this.#started && this.#partialBytes[1] + this.#partialBytes[2] <= INLINE_MAX) {
      const out = { stdout: this.#take(1), stderr: this.#take(2) };
      this.stop();
      return out;
    }
    this.#start();
    this.#cut(1, true);
    this.#cut(2, true);
    this.#fill();
    this.#maybeDone();
    return undefined;
  }

  /** The client needs `next` (everything before arrived). */
  ack(next: number): void {
    if (this.#over || next > this.#next || next < this.#base) return;
    if (next > this.#base) {
      for (let s = this.#base; s < next; s++) this.#events[s] = undefined;
      this.#base = next;
      this.#dups = 0;
      this.#progressAt = this.#tickedAt = this.#clock();
      this.#fill();
      this.#maybeDone();
      return;
    }
    // The same ack again: something after `next` arrived, `next` itself did not.
    if (++this.#dups === 3) this.#send(this.#base);
  }

  /** Stops (session ended, or done). */
  stop(): void {
    if (this.#over) return;
    this.#over = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#startTimer !== undefined) clearTimeout(this.#startTimer);
    this.#events.length = 0;
    this.#sink.released();
  }

  #start(): void {
    if (this.#started || this.#over) return;
    this.#started = true;
    this.#cut(1, this.#ended);
    this.#cut(2, this.#ended);
    // A pause in the output is worth an event too (progress lines): cut what is there.
    if (this.#events.length === 0) {
      this.#cut(1, true);
      this.#cut(2, true);
    }
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    Deno.unrefTimer(this.#timer);
    this.#fill();
  }

  /** Cuts full events (and with `all`, the rest) out of fd's pending output. */
  #cut(fd: 1 | 2, all: boolean): void {
    while (this.#partialBytes[fd] >= MAX_SESSION_BODY || (all && this.#partialBytes[fd] > 0)) {
      const n = Math.min(MAX_SESSION_BODY, this.#partialBytes[fd]);
      this.#events.push({ data: this.#takeBytes(fd, n), stderr: fd === 2 });
    }
  }

  #take(fd: 1 | 2): Uint8Array {
    return this.#takeBytes(fd, this.#partialBytes[fd]);
  }

  #takeBytes(fd: 1 | 2, n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    const parts = this.#partial[fd];
    while (at < n) {
      const p = parts[0];
      const take = Math.min(p.length, n - at);
      out.set(p.subarray(0, take), at);
      at += take;
      if (take === p.length) parts.shift();
      else parts[0] = p.subarray(take);
    }
    this.#partialBytes[fd] -= n;
    return out;
  }

  #maybeDone(): void {
    if (this.#ended && !this.#over && this.#base >= this.#events.length) {
      const n = this.#events.length;
      this.stop();
      this.#sink.done(n);
    }
  }

  #fill(): void {
    if (!this.#started) return;
    // While the action runs, a partial event waits for more unless the window is idle.
    if (this.#next >= this.#events.length && this.#next === this.#base && !this.#ended) {
      this.#cut(1, true);
      this.#cut(2, true);
    }
    while (this.#next < this.#events.length && this.#next < this.#base + WINDOW) {
      this.#send(this.#next++);
    }
  }

  #send(seq: number): void {
    const e = this.#events[seq];
    if (e) this.#sink.event(seq, e.data, e.stderr);
  }

  #tick(): void {
    if (this.#over) return;
    const now = this.#clock();
    // Nothing in flight (the action is quiet): nothing to wait for.
    if (this.#base >= this.#next) this.#progressAt = now;
    if (now - this.#progressAt > STALL_MS) {
      this.stop();
      this.#sink.abandoned();
      return;
    }
    // Output that came in small pieces: send what is there.
    if (this.#next === this.#events.length) this.#fill();
    if (now - this.#tickedAt < TICK_MS) return;
    this.#tickedAt = now;
    // No ack for a tick: resend what is in flight (a lost tail has no later ack to show it).
    for (let s = this.#base; s < this.#next; s++) this.#send(s);
  }
}
