/**
 * The daemon's pipeline in process: a real config, keys and state store on disk, a real
 * {@linkcode Daemon}, and a reply channel that records what would go on the wire.
 * @module
 */
import { loadConfig } from "../../src/config/load.ts";
import { buildRuntime } from "../../src/daemon/runtime.ts";
import { Daemon, type DaemonOptions } from "../../src/daemon/daemon.ts";
import type { ReplyChannel } from "../../src/daemon/replies.ts";
import { KvStateStore } from "../../src/state/kv.ts";
import { type SealedRequest, sealRequest } from "../../src/wire/mod.ts";
import { type Fixture, type FixtureOptions, makeFixture } from "../_helpers/daemon.ts";

/** Records replies instead of sending them. */
export class RecordingChannel implements ReplyChannel {
  readonly sent: { datagram: Uint8Array; to: Deno.NetAddr }[] = [];
  closed = false;
  send(datagram: Uint8Array, to: Deno.NetAddr): void {
    this.sent.push({ datagram, to });
  }
}

/** A daemon over a fixture, driven through `deliver`. */
export interface InProcess {
  fx: Fixture;
  daemon: Daemon;
  channel: RecordingChannel;
  /** Seals a request from alice (HMAC) for `actionId`. */
  seal(actionId: number, payload?: Uint8Array, opts?: SealExtras): SealedRequest;
  /** Runs `datagram` through the pipeline as if it came from `from` (await: until opened). */
  deliver(datagram: Uint8Array, from?: Deno.NetAddr): void | Promise<void>;
  /** Waits until `n` replies were recorded or `ms` passed. */
  replies(n: number, ms?: number): Promise<Uint8Array[]>;
  /** Stops the daemon (graceful) and removes the fixture. */
  close(): Promise<void>;
}

/** Optional parts of a sealed test request. */
export interface SealExtras {
  /** Address to open for (sealed inside). */
  allowAddress?: string;
  /** Same on every retry of one request. */
  retryId?: Uint8Array;
  /** A cookie from a cookie reply (fills mac2). */
  cookie?: Uint8Array;
  /** Added to the clock when stamping. */
  timeOffsetMs?: number;
}

/** The default source of delivered datagrams. */
export const CLIENT: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: 40000 };

/** Builds a daemon over a fresh fixture (not started unless `start`). */
export async function inProcess(
  fxOpts: FixtureOptions = {},
  daemonOpts: DaemonOptions = {},
  start = false,
): Promise<InProcess> {
  const fx = await makeFixture(fxOpts);
  return await overFixture(fx, daemonOpts, start);
}

/** Builds a daemon over an existing fixture (its state dir is reused). */
export async function overFixture(
  fx: Fixture,
  daemonOpts: DaemonOptions = {},
  start = false,
): Promise<InProcess> {
  const loaded = await loadConfig(fx.config);
  if (!loaded.ok) throw new Error(loaded.findings.map((f) => f.message).join("\n"));
  const runtime = await buildRuntime(loaded.config);
  const store = await KvStateStore.open(loaded.config.state.path);
  const daemon = new Daemon(runtime, store, { configPath: fx.config, ...daemonOpts });
  if (start) await daemon.start();
  const channel = new RecordingChannel();
  let closed = false;
  return {
    fx,
    daemon,
    channel,
    seal: (actionId, payload, extras = {}) =>
      sealRequest(fx.serverPublic, { kind: "hmac", key: fx.aliceKey }, {
        type: "request",
        userId: 1,
        actionId,
        payload,
        allowAddress: extras.allowAddress,
        retryId: extras.retryId,
      }, { now: Date.now() + (extras.timeOffsetMs ?? 0), padTo: 1200, cookie: extras.cookie }),
    deliver: (datagram, from = CLIENT) => daemon.pipeline.handle("main", datagram, from, channel),
    async replies(n, ms = 3000) {
      const deadline = Date.now() + ms;
      while (channel.sent.length < n && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      return channel.sent.map((s) => s.datagram);
    },
    async close() {
      if (closed) return;
      closed = true;
      await daemon.stop(1000);
    },
  };
}
