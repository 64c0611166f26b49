/**
 * A UDP port forward gated by SPA (docs/RELAY.md, "Pass-through"): a socket on `listen`
 * forwards raw datagrams to `to` only for source addresses a `type: forward` request
 * authorised, until their grant expires. Each client (address and port) gets a flow: a socket
 * of its own towards `to`, whose replies go back to the client through `listen`. Grants and
 * flows are bounded tables; a flow ends with its grant or after an idle minute. Datagrams from
 * anyone else are dropped without a word.
 * @module
 */

/** Most authorised addresses per forward (beyond: a new grant is refused). */
export const MAX_FORWARD_GRANTS = 4096;
/** A flow with no datagram either way for this long is closed (ms). */
export const FLOW_IDLE_MS = 60_000;
/** Largest datagram forwarded either way. */
const MAX_FORWARD_DATAGRAM = 65_507;

/** Where a forward listens and sends. */
export interface UdpForwardOptions {
  /** Address the clients send to. */
  listen: Deno.NetAddr;
  /** The inner service. */
  to: Deno.NetAddr;
  /** Most flows at once. */
  maxFlows: number;
  /** Clock (epoch ms). */
  clock?: () => number;
  /** Adds to a daemon counter. */
  count?: (name: string) => void;
}

interface Flow {
  conn: Deno.DatagramConn;
  client: Deno.NetAddr;
  ip: string;
  lastSeen: number;
}

/** One gated port forward. */
export class UdpForward {
  readonly #opts: UdpForwardOptions;
  readonly #clock: () => number;
  readonly #count: (name: string) => void;
  readonly #listen: Deno.DatagramConn;
  /** Authorised source addresses (text) → expiry (epoch ms). */
  readonly #grants = new Map<string, number>();
  /** Flows by client `ip|port`. */
  readonly #flows = new Map<string, Flow>();
  readonly #loop: Promise<void>;
  readonly #flowLoops = new Set<Promise<void>>();
  readonly #sweeper: ReturnType<typeof setInterval>;
  #closed = false;

  /** Binds `listen` (throws when it cannot) and starts forwarding. */
  constructor(opts: UdpForwardOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? Date.now;
    this.#count = opts.count ?? (() => {});
    this.#listen = Deno.listenDatagram({
      transport: "udp",
      hostname: opts.listen.hostname,
      port: opts.listen.port,
    });
    this.#loop = this.#receive();
    this.#sweeper = setInterval(() => this.#sweep(), 5_000);
    Deno.unrefTimer(this.#sweeper);
  }

  /** Number of flows open now. */
  get flows(): number {
    return this.#flows.size;
  }

  /**
   * Lets `ip` use the forward until `until` (a later grant extends, never shortens). False
   * when the grant table is full of live grants.
   */
  allow(ip: string, until: number): boolean {
    const had = this.#grants.get(ip);
    if (had === undefined && this.#grants.size >= MAX_FORWARD_GRANTS) {
      this.#sweep();
      if (this.#grants.size >= MAX_FORWARD_GRANTS) return false;
    }
    this.#grants.set(ip, Math.max(had ?? 0, until));
    return true;
  }

  #allowed(ip: string, now: number): boolean {
    const until = this.#grants.get(ip);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#grants.delete(ip);
    return false;
  }

  /** Drops expired grants and the flows of expired or idle clients. */
  #sweep(): void {
    const now = this.#clock();
    for (const [ip, until] of this.#grants) if (until <= now) this.#grants.delete(ip);
    for (const [key, f] of this.#flows) {
      if (!this.#grants.has(f.ip) || now - f.lastSeen > FLOW_IDLE_MS) this.#endFlow(key, f);
    }
  }

  #endFlow(key: string, f: Flow): void {
    this.#flows.delete(key);
    try {
      f.conn.close();
    } catch {
      // closed
    }
  }

  async #receive(): Promise<void> {
    try {
      for await (const [data, from] of this.#listen) {
        const src = from as Deno.NetAddr;
        const now = this.#clock();
        if (!this.#allowed(src.hostname, now)) {
          this.#count("forward_unauthorised");
          continue;
        }
        const key = `${src.hostname}|${src.port}`;
        let flow = this.#flows.get(key);
        if (!flow) {
          if (this.#flows.size >= this.#opts.maxFlows) this.#sweep();
          if (this.#flows.size >= this.#opts.maxFlows) {
            this.#count("forward_flows_full");
            continue;
          }
          flow = this.#open(key, src, now);
          if (!flow) continue;
        }
        flow.lastSeen = now;
        if (data.length > MAX_FORWARD_DATAGRAM) continue;
        flow.conn.send(data, this.#opts.to).catch(() => this.#count("forward_send_failed"));
      }
    } catch {
      // listener closed
    }
  }

  #open(key: string, client: Deno.NetAddr, now: number): Flow | undefined {
    let conn: Deno.DatagramConn;
    try {
      const any = this.#opts.to.hostname.includes(":") ? "::" : "0.0.0.0";
      conn = Deno.listenDatagram({ transport: "udp", hostname: any, port: 0 });
    } catch {
      this.#count("forward_send_failed");
      return undefined;
    }
    const flow: Flow = { conn, client, ip: client.hostname, lastSeen: now };
    this.#flows.set(key, flow);
    this.#count("forward_flows");
    const loop = this.#back(key, flow);
    this.#flowLoops.add(loop);
    loop.finally(() => this.#flowLoops.delete(loop));
    return flow;
  }

  /** Replies from the inner service go back to the client while its grant lasts. */
  async #back(key: string, flow: Flow): Promise<void> {
    const to = this.#opts.to;
    try {
      for await (const [data, from] of flow.conn) {
        const src = from as Deno.NetAddr;
        if (src.hostname !== to.hostname || src.port !== to.port) continue;
        const now = this.#clock();
        if (!this.#allowed(flow.ip, now)) break;
        flow.lastSeen = now;
        await this.#listen.send(data, flow.client).catch(() => {});
      }
    } catch {
      // closed
    }
    if (this.#flows.get(key) === flow) this.#endFlow(key, flow);
  }

  /** Closes the listener and every flow. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    try {
      this.#listen.close();
    } catch {
      // closed
    }
    for (const [key, f] of this.#flows) this.#endFlow(key, f);
    await this.#loop;
    await Promise.all([...this.#flowLoops]);
  }
}
