/**
 * One command's output sent as sealed `event` messages (docs/PROTOCOL.md §18) while the
 * action runs: `push` adds output as it is read (stdout and stderr apart), `end` says there
 * is no more. stdout and stderr share one sequence space and keep the order in which their
 * chunks were read: output waits in runs (consecutive chunks of one fd), and an event never
 * takes bytes of a later run before an earlier one is sent, so a client that prints events in
 * sequence prints the two streams interleaved as the action wrote them. Sequence numbers 0, 1, 2…, at most `WINDOW` events unacknowledged; the client's
 * `ack` names the next sequence number it needs (everything before arrived). A repeated ack
 * resends that event at once (after three), a tick without progress resends what is in
 * flight, and a stream without progress for `STALL_MS` is abandoned. When the output ended
 * and every event is acknowledged, `done` sends the final result. Small output of one fd that
 * has not gone out yet when it ends goes with the result instead (`end` returns it); output of
 * both fds always goes as events, since the result's two fields cannot say their order.
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

/** Consecutive chunks of one fd, not yet cut into events. */
interface Run {
  fd: 1 | 2;
  parts: Uint8Array[];
  bytes: number;
}

/** The output of one command, streamed. */
export class OutStream {
  /** The command it answers. */
  readonly cmd: number;
  readonly #sink: StreamSink;
  readonly #clock: () => number;
  /** Events by seq (acknowledged ones are cleared). */
  readonly #events: (Event | undefined)[] = [];
  /** Output not yet cut into events, in the order it was read. */
  readonly #runs: Run[] = [];
  #pendingBytes = 0;
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
    const last = this.#runs.at(-1);
    if (last?.fd === fd) {
      last.parts.push(chunk.slice());
      last.bytes += chunk.length;
    } else this.#runs.push({ fd, parts: [chunk.slice()], bytes: chunk.length });
    this.#pendingBytes += chunk.length;
    this.#cut(false);
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
    if (!this.#started && this.#runs.length <= 1 && this.#pendingBytes <= INLINE_MAX) {
      const run = this.#runs.shift();
      const data = run ? this.#join(run, run.bytes) : new Uint8Array();
      const out = run?.fd === 2
        ? { stdout: new Uint8Array(), stderr: data }
        : { stdout: data, stderr: new Uint8Array() };
      this.stop();
      return out;
    }
    this.#start();
    this.#cut(true);
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
    this.#cut(this.#ended);
    // A pause in the output is worth an event too (progress lines): cut what is there.
    if (this.#events.length === 0) this.#cut(true);
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    Deno.unrefTimer(this.#timer);
    this.#fill();
  }

  /**
   * Cuts events out of the pending output, oldest run first: full events, a run that another
   * fd's output follows (it can grow no more), and with `all` the rest.
   */
  #cut(all: boolean): void {
    for (;;) {
      const run = this.#runs[0];
      if (run === undefined) return;
      if (run.bytes === 0) {
        this.#runs.shift();
        continue;
      }
      if (run.bytes < MAX_SESSION_BODY && this.#runs.length === 1 && !all) return;
      const n = Math.min(MAX_SESSION_BODY, run.bytes);
      this.#events.push({ data: this.#join(run, n), stderr: run.fd === 2 });
      this.#pendingBytes -= n;
    }
  }

  /** Takes the first `n` bytes of `run`. */
  #join(run: Run, n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    const parts = run.parts;
    while (at < n) {
      const p = parts[0];
      const take = Math.min(p.length, n - at);
      out.set(p.subarray(0, take), at);
      at += take;
      if (take === p.length) parts.shift();
      else parts[0] = p.subarray(take);
    }
    run.bytes -= n;
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
      this.#cut(true);
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
