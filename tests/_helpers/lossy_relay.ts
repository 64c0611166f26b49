/**
 * A UDP relay for tests that loses datagrams at random: clients send to `port`, the relay
 * forwards to the target from its own socket (so the server sees one source) and sends the
 * answers back to the client that last spoke. Each datagram, either way, is dropped with
 * probability `loss`. Test-only; no reordering, no duplication.
 * @module
 */

/** Datagrams forwarded and dropped, per direction. */
export interface RelayStats {
  /** Client to server, forwarded. */
  up: number;
  /** Client to server, dropped. */
  upLost: number;
  /** Server to client, forwarded. */
  down: number;
  /** Server to client, dropped. */
  downLost: number;
}

/** A running lossy relay. */
export class LossyRelay {
  /** Where clients send. */
  readonly port: number;
  /** Counts so far. */
  readonly stats: RelayStats = { up: 0, upLost: 0, down: 0, downLost: 0 };
  readonly #front: Deno.DatagramConn;
  readonly #back: Deno.DatagramConn;
  readonly #pumps: Promise<void>[];
  #client?: Deno.NetAddr;

  /** Starts relaying to `target` with this loss probability (0..1). */
  constructor(target: Deno.NetAddr, loss: number) {
    this.#front = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    this.#back = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    this.port = (this.#front.addr as Deno.NetAddr).port;
    const up = async () => {
      for await (const [data, from] of this.#front) {
        this.#client = from as Deno.NetAddr;
        if (Math.random() < loss) this.stats.upLost++;
        else {
          this.stats.up++;
          await this.#back.send(data, target).catch(() => {});
        }
      }
    };
    const down = async () => {
      for await (const [data] of this.#back) {
        if (!this.#client) continue;
        if (Math.random() < loss) this.stats.downLost++;
        else {
          this.stats.down++;
          await this.#front.send(data, this.#client).catch(() => {});
        }
      }
    };
    this.#pumps = [up().catch(() => {}), down().catch(() => {})];
  }

  /** Stops relaying. */
  async close(): Promise<void> {
    this.#front.close();
    this.#back.close();
    await Promise.all(this.#pumps);
  }
}
