/**
 * One command's output sent as sealed `event` messages (docs/PROTOCOL.md §14): sequence
 * numbers 0…n−1, at most `WINDOW` unacknowledged at a time; the client's `ack` names the next
 * sequence number it needs (everything before arrived). A repeated ack resends that event at
 * once (after three), a tick without progress resends the whole window, and a stream that
 * makes no progress for `STALL_MS` is abandoned. When every event is acknowledged, `done`
 * sends the final result. Only ever to a session's own (proven) address.
 * @module
 */
import { MAX_SESSION_BODY } from "../wire/session.ts";

/** Events in flight at most. */
export const WINDOW = 64;
/** Resend the window when nothing was acknowledged for this long (ms). */
const TICK_MS = 150;
/** Abandon a stream without progress for this long (ms). */
const STALL_MS = 15_000;

/** What a stream needs from its session. */
export interface StreamSink {
  /** Seals and sends event `seq` with `chunk`. */
  event(seq: number, chunk: Uint8Array): void;
  /** Every event arrived: send the final result. */
  done(events: number): void;
  /** The stream was abandoned (no progress). */
  abandoned(): void;
  /** The stream is over (done, abandoned or stopped): its output may be forgotten. Once. */
  released(): void;
}

/** The output of one command, streamed. */
export class OutStream {
  /** The command it answers. */
  readonly cmd: number;
  /** Number of events. */
  readonly count: number;
  readonly #data: Uint8Array;
  readonly #sink: StreamSink;
  readonly #clock: () => number;
  /** First unacknowledged event. */
  #base = 0;
  /** Next never-sent event. */
  #next = 0;
  #dups = 0;
  #progressAt: number;
  #tickedAt: number;
  #timer?: ReturnType<typeof setInterval>;
  #over = false;

  /** Starts streaming `data` (the first window goes out now). */
  constructor(cmd: number, data: Uint8Array, sink: StreamSink, clock: () => number) {
    this.cmd = cmd;
    this.#data = data;
    this.#sink = sink;
    this.#clock = clock;
    this.count = Math.max(1, Math.ceil(data.length / MAX_SESSION_BODY));
    this.#progressAt = this.#tickedAt = clock();
    this.#fill();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    Deno.unrefTimer(this.#timer);
  }

  /** True once finished or abandoned. */
  get over(): boolean {
    return this.#over;
  }

  /** The client needs `next` (everything before arrived). */
  ack(next: number): void {
    if (this.#over || next > this.#next || next < this.#base) return;
    if (next > this.#base) {
      this.#base = next;
      this.#dups = 0;
      this.#progressAt = this.#tickedAt = this.#clock();
      if (this.#base >= this.count) return this.#finish();
      this.#fill();
      return;
    }
    // The same ack again: something after `next` arrived, `next` itself did not.
    if (++this.#dups === 3) this.#send(this.#base);
  }

  /** Stops (session ended). */
  stop(): void {
    if (this.#over) return;
    this.#over = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#sink.released();
  }

  #finish(): void {
    this.stop();
    this.#sink.done(this.count);
  }

  #fill(): void {
    while (this.#next < this.count && this.#next < this.#base + WINDOW) this.#send(this.#next++);
  }

  #send(seq: number): void {
    const from = seq * MAX_SESSION_BODY;
    this.#sink.event(seq, this.#data.subarray(from, from + MAX_SESSION_BODY));
  }

  #tick(): void {
    if (this.#over) return;
    const now = this.#clock();
    if (now - this.#progressAt > STALL_MS) {
      this.stop();
      this.#sink.abandoned();
      return;
    }
    if (now - this.#tickedAt < TICK_MS) return;
    this.#tickedAt = now;
    // No ack for a tick: resend what is in flight (a lost tail has no later ack to show it).
    for (let s = this.#base; s < this.#next; s++) this.#send(s);
  }
}
