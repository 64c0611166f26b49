/**
 * What the rest of the daemon needs of the nftables objects, as interfaces: the grant
 * sets ({@linkcode GrantsBackend}) and the ban mirror ({@linkcode BansBackend}). `NftGrants`
 * and `NftBans` implement them in the privileged process; under privilege separation the
 * network part holds proxies that ask the privileged part (`src/privsep/remote.ts`).
 * @module
 */
import type { BanElement, NftCounters } from "./bans.ts";
import type { InitialGrant, NftElement, PortSpec } from "./grants.ts";
import type { ReconcileStatus } from "./reconcile.ts";

/** The firewall grant sets. */
export interface GrantsBackend {
  /** Creates the table objects and loads the live grants. */
  setup(grants?: readonly InitialGrant[]): Promise<void>;
  /** Opens `ports` for `address` for `ttlMs`. */
  grant(address: string, ports: readonly PortSpec[], ttlMs: number): Promise<void>;
  /** Closes `ports` for `address`. */
  revoke(address: string, ports: readonly PortSpec[]): Promise<void>;
  /** The elements in the kernel now. */
  list(): Promise<NftElement[]>;
  /** Waits until every change so far reached the kernel. */
  flush(): Promise<void>;
  /** The last reconcile. */
  reconcileStatus(): ReconcileStatus;
  /** Stops, leaving the objects in place. */
  close(): Promise<void>;
  /** Stops and removes the objects. */
  teardown(): Promise<void>;
}

/** The kernel mirror of the bans. */
export interface BansBackend {
  /** Creates the table objects and loads the live bans. */
  setup(bans?: readonly BanElement[]): Promise<void>;
  /** Adds a ban (batched in the background). */
  ban(ban: BanElement): void;
  /** Lifts a ban (batched in the background). */
  unban(source: string): void;
  /** Changes which traffic a ban drops. */
  reconfigure(scope: "ports" | "all", ports: number[]): Promise<void>;
  /** The last reconcile. */
  reconcileStatus(): ReconcileStatus;
  /** Batch counters. */
  readonly counters: Readonly<NftCounters>;
  /** Changes waiting for a batch. */
  readonly pending: number;
  /** Waits until every change so far reached the kernel. */
  flush(): Promise<void>;
  /** Stops, leaving the objects in place. */
  close(): Promise<void>;
  /** Stops and removes the objects. */
  teardown(): Promise<void>;
}
