/**
 * The network part's side of the channel: stand-ins for what it may no longer do itself.
 * `RemoteRunner` asks the privileged part to run an action by name; `RemoteGrants` and
 * `RemoteBans` forward nftables changes. The privileged part decides; these only ask.
 * @module
 */
import { logger } from "../util/log.ts";
import { QueueFullError } from "../actions/limiter.ts";
import type { ExecResult } from "../actions/exec.ts";
import type { ActionRunner, RunSpec } from "../actions/runner.ts";
import type { BansBackend, GrantsBackend } from "../nft/backend.ts";
import type { BanElement, NftCounters } from "../nft/bans.ts";
import type { InitialGrant, NftElement, PortSpec } from "../nft/grants.ts";
import type { ReconcileStatus } from "../nft/reconcile.ts";
import { type RpcChannel, RpcError } from "./channel.ts";
import { bytes, decodeExecResult, encodeRunSpec, record } from "./codec.ts";

/** How often the proxies refresh the status they report synchronously (ms). */
const STATUS_EVERY_MS = 3000;

const NO_STATUS: ReconcileStatus = {
  last_check: null,
  last_repair: null,
  repairs: 0,
  repaired: [],
};

/** Runs actions in the privileged part. */
export class RemoteRunner implements ActionRunner {
  readonly #channel: RpcChannel;

  /** Creates the runner over the channel. */
  constructor(channel: RpcChannel) {
    this.#channel = channel;
  }

  /**
   * Asks the privileged part to run `spec`; its refusal rejects. With `onOutput` the output
   * comes as it is read, too (events checked: fd 1 or 2, at most 1 MiB each).
   */
  async run(
    spec: RunSpec,
    onOutput?: (fd: 1 | 2, chunk: Uint8Array) => void,
  ): Promise<ExecResult> {
    try {
      // The privileged part computes SIGLATCH_PAYLOAD_B64 from stdin itself.
      const { SIGLATCH_PAYLOAD_B64: _, ...env } = spec.env;
      const args: Record<string, unknown> = encodeRunSpec({ ...spec, env });
      if (onOutput) args.stream = true;
      const onEvent = onOutput && ((ev: unknown) => {
        const e = record(ev);
        if (e.fd !== 1 && e.fd !== 2) return;
        onOutput(e.fd, bytes(e.data, "output", 1024 * 1024));
      });
      return decodeExecResult(await this.#channel.call("run", args, onEvent));
    } catch (err) {
      if (err instanceof RpcError && /queue is full/.test(err.message)) throw new QueueFullError();
      throw err;
    }
  }
}

/** Keeps the last status the privileged part reported, refreshed in the background. */
class StatusPoll<T> {
  value: T;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(initial: T, fetch: () => Promise<T>) {
    this.value = initial;
    this.#timer = setInterval(() => {
      fetch().then((v) => this.value = v, () => {});
    }, STATUS_EVERY_MS);
    Deno.unrefTimer(this.#timer);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** The grant sets, held by the privileged part. */
export class RemoteGrants implements GrantsBackend {
  readonly #channel: RpcChannel;
  #poll?: StatusPoll<ReconcileStatus>;

  /** Creates the proxy. */
  constructor(channel: RpcChannel) {
    this.#channel = channel;
  }

  /** Sets up the grant objects in the privileged part. */
  async setup(grants: readonly InitialGrant[] = []): Promise<void> {
    await this.#channel.call("grants.setup", { grants });
    this.#poll ??= new StatusPoll(
      NO_STATUS,
      async () => (await this.#channel.call("grants.status")) as ReconcileStatus,
    );
  }

  /** Opens `ports` for `address`. */
  async grant(address: string, ports: readonly PortSpec[], ttlMs: number): Promise<void> {
    await this.#channel.call("grants.grant", { address, ports, ttlMs: Math.ceil(ttlMs) });
  }

  /** Closes `ports` for `address`. */
  async revoke(address: string, ports: readonly PortSpec[]): Promise<void> {
    await this.#channel.call("grants.revoke", { address, ports });
  }

  /** The kernel's elements. */
  async list(): Promise<NftElement[]> {
    return (await this.#channel.call("grants.list")) as NftElement[];
  }

  /** Waits for pending changes. */
  async flush(): Promise<void> {
    await this.#channel.call("grants.flush");
  }

  /** The last reconcile the privileged part reported. */
  reconcileStatus(): ReconcileStatus {
    return this.#poll?.value ?? NO_STATUS;
  }

  /** Stops, leaving the objects. */
  async close(): Promise<void> {
    this.#poll?.stop();
    await this.#channel.call("grants.close").catch(() => {});
  }

  /** Stops and removes the objects. */
  async teardown(): Promise<void> {
    this.#poll?.stop();
    await this.#channel.call("grants.teardown").catch(() => {});
  }
}

interface BansStatus {
  status: ReconcileStatus;
  counters: NftCounters;
  pending: number;
}

const NO_COUNTERS: NftCounters = {
  batches: 0,
  batch_errors: 0,
  elements_added: 0,
  elements_removed: 0,
  refused: 0,
};

/** The ban mirror, held by the privileged part. */
export class RemoteBans implements BansBackend {
  readonly #channel: RpcChannel;
  readonly #log = logger("privsep");
  #poll?: StatusPoll<BansStatus>;

  /** Creates the proxy. */
  constructor(channel: RpcChannel) {
    this.#channel = channel;
  }

  /** Sets up the ban objects in the privileged part. */
  async setup(bans: readonly BanElement[] = []): Promise<void> {
    await this.#channel.call("bans.setup", {
      bans: bans.map((b) => ({ source: b.source, until: b.until })),
    });
    this.#poll ??= new StatusPoll<BansStatus>(
      { status: NO_STATUS, counters: NO_COUNTERS, pending: 0 },
      async () => (await this.#channel.call("bans.status")) as BansStatus,
    );
  }

  /** Adds a ban (in the background). */
  ban(ban: BanElement): void {
    this.#channel.call("bans.ban", { source: ban.source, until: ban.until }).catch((err) =>
      this.#log.warn("ban of {source} not mirrored: {err}", {
        source: ban.source,
        err: String(err),
      })
    );
  }

  /** Lifts a ban (in the background). */
  unban(source: string): void {
    this.#channel.call("bans.unban", { source }).catch((err) =>
      this.#log.warn("unban of {source} not mirrored: {err}", { source, err: String(err) })
    );
  }

  /** The privileged part re-reads scope and ports from its own config. */
  async reconfigure(_scope: "ports" | "all", _ports: number[]): Promise<void> {
    await this.#channel.call("bans.reconfigure");
  }

  /** The last reconcile reported. */
  reconcileStatus(): ReconcileStatus {
    return this.#poll?.value.status ?? NO_STATUS;
  }

  /** Batch counters reported. */
  get counters(): Readonly<NftCounters> {
    return this.#poll?.value.counters ?? NO_COUNTERS;
  }

  /** Changes pending, as reported. */
  get pending(): number {
    return this.#poll?.value.pending ?? 0;
  }

  /** Waits for pending changes. */
  async flush(): Promise<void> {
    await this.#channel.call("bans.flush");
  }

  /** Stops, leaving the objects. */
  async close(): Promise<void> {
    this.#poll?.stop();
    await this.#channel.call("bans.close").catch(() => {});
  }

  /** Stops and removes the objects. */
  async teardown(): Promise<void> {
    this.#poll?.stop();
    await this.#channel.call("bans.teardown").catch(() => {});
  }
}
