/**
 * Cluster nodes: every daemon writes a small heartbeat record about itself into the state
 * store (namespace {@linkcode NODES_NS}) every {@linkcode HEARTBEAT_MS}, expiring after
 * {@linkcode NODE_TTL_MS}; the dashboard and the `nodes` admin command list the records that
 * have not expired. With the embedded store that is this node only; with Redis, every node
 * sharing the store. Records read back are checked before use and the list is bounded.
 * @module
 */
import type { StateStore } from "../state/store.ts";
import { VERSION } from "../version.ts";
import { logger } from "../util/log.ts";

/** The state store namespace of heartbeat records. */
export const NODES_NS = "cluster_node";
/** Time between heartbeats (ms). */
export const HEARTBEAT_MS = 10_000;
/** A node whose last heartbeat is older than this is gone (its record expires). */
export const NODE_TTL_MS = 3 * HEARTBEAT_MS;
/** Most nodes listed. */
export const MAX_NODES = 256;

/** One node's heartbeat record. */
export interface NodeRecord {
  /** Node id: host name and a random suffix fixed for the process's life. */
  node: string;
  /** Host name. */
  host: string;
  /** Process id. */
  pid: number;
  /** siglatch version. */
  version: string;
  /** When the daemon started (epoch ms). */
  started: number;
  /** Last heartbeat (epoch ms). */
  seen: number;
  /** Its config version. */
  config_version: number;
  /** Addresses it listens on. */
  listening: string[];
}

/** What a heartbeat reads of its daemon each time. */
export interface NodeFacts {
  /** Config version. */
  configVersion(): number;
  /** Listen addresses. */
  listening(): string[];
}

/** Checks a heartbeat record read from the store. */
export function checkNode(v: unknown): NodeRecord | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const str = (x: unknown, max: number) => typeof x === "string" && x.length <= max;
  const num = (x: unknown) => typeof x === "number" && Number.isFinite(x);
  if (!str(r.node, 300) || !str(r.host, 255) || !str(r.version, 64)) return undefined;
  if (!num(r.pid) || !num(r.started) || !num(r.seen) || !num(r.config_version)) return undefined;
  if (
    !Array.isArray(r.listening) || r.listening.length > 64 ||
    !r.listening.every((l) => str(l, 100))
  ) return undefined;
  return r as unknown as NodeRecord;
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/** Writes this node's heartbeat and lists the cluster's nodes. */
export class NodeHeartbeat {
  readonly #store: StateStore;
  readonly #facts: NodeFacts;
  readonly #clock: () => number;
  readonly #log = logger("cluster");
  readonly #host = hostName();
  readonly #started: number;
  /** This node's id. */
  readonly id: string;
  #timer?: ReturnType<typeof setInterval>;
  #failing = false;

  /** Creates the heartbeat of this node (call {@linkcode start}). */
  constructor(store: StateStore, facts: NodeFacts, clock: () => number = Date.now) {
    this.#store = store;
    this.#facts = facts;
    this.#clock = clock;
    this.#started = clock();
    this.id = `${this.#host}/${crypto.getRandomValues(new Uint8Array(4)).toHex()}`;
  }

  /** Writes one heartbeat now. */
  async beat(): Promise<void> {
    const now = this.#clock();
    const rec: NodeRecord = {
      node: this.id,
      host: this.#host,
      pid: Deno.pid,
      version: VERSION,
      started: this.#started,
      seen: now,
      config_version: this.#facts.configVersion(),
      listening: this.#facts.listening().slice(0, 64),
    };
    await this.#store.set(NODES_NS, this.id, rec, now + NODE_TTL_MS);
  }

  /** Beats now and every {@linkcode HEARTBEAT_MS}; a failing store is logged once per outage. */
  async start(): Promise<void> {
    const tick = async () => {
      try {
        await this.beat();
        if (this.#failing) this.#log.info("heartbeat written again");
        this.#failing = false;
      } catch (err) {
        if (!this.#failing) this.#log.warn("heartbeat not written: {err}", { err: String(err) });
        this.#failing = true;
      }
    };
    await tick();
    this.#timer = setInterval(tick, HEARTBEAT_MS);
    Deno.unrefTimer(this.#timer);
  }

  /** Stops beating and removes this node's record (it left the cluster). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#store.delete(NODES_NS, this.id).catch(() => false);
  }

  /** The live nodes (heartbeat not expired), this one marked, newest start first; bounded. */
  async list(): Promise<(NodeRecord & { self: boolean; age_s: number })[]> {
    const now = this.#clock();
    const out: (NodeRecord & { self: boolean; age_s: number })[] = [];
    for (const r of await this.#store.list<unknown>(NODES_NS, now)) {
      const n = checkNode(r.value);
      if (!n || n.node !== r.key) continue;
      out.push({
        ...n,
        self: n.node === this.id,
        age_s: Math.max(0, Math.round((now - n.seen) / 1000)),
      });
      if (out.length >= MAX_NODES) break;
    }
    return out.sort((a, b) => Number(b.self) - Number(a.self) || a.node.localeCompare(b.node));
  }

  /** The admin command `nodes` (the control socket and the dashboard). */
  commands(): Record<string, (args: Record<string, unknown>) => Promise<unknown>> {
    return { nodes: async () => await this.list() };
  }
}
