/**
 * The daemon's Prometheus metrics: counters the stages already keep (`Daemon.counters`),
 * accepted requests by user and action with their duration, and gauges read from the
 * daemon at scrape time (bans, grants, replay cache, queues, workers, kernel drops).
 * Label values come from the config (users, actions, listen addresses) or from the fixed
 * set of refusal reasons in the code, never from a datagram; every family is bounded
 * anyway ({@linkcode MAX_LABEL_SETS}).
 * @module
 */
import { ReplyStatus } from "../wire/types.ts";
import { VERSION } from "../version.ts";
import { Counter, Gauge, Histogram, type Labels, Registry, type Sample } from "./registry.ts";

export { MAX_LABEL_SETS } from "./registry.ts";

/** What the metrics read from a running daemon (the `Daemon` class satisfies it). */
export interface MetricsSource {
  /** Event counters of the stages (`received`, `drop_<reason>`, `accepted`, ...). */
  readonly counters: Record<string, number>;
  /** Start time (epoch ms). */
  readonly started: number;
  /** 1 + successful reloads. */
  readonly configVersion: number;
  /** The replay cache. */
  readonly replay: { readonly size: number };
  /** Source gate: active bans and tracked sources. */
  readonly defense: { readonly gate: { bans(now: number): unknown[]; readonly tracked: number } };
  /** Firewall grants and keepalive sessions (absent before start and in a dry run). */
  readonly sessions?: { list(): { grants: unknown[]; sessions: unknown[] } };
  /** The exec action limiter. */
  readonly limiter: { readonly running: number; readonly waiting: number };
  /** Listening sockets with the kernel's drop counter. */
  listenerStatus(): { address: string; kernel_drops?: number }[];
  /** Open-worker pool figures, when there is a pool. */
  openPool(): { size: number; depth: number; opened: number; refused: number } | undefined;
  /** Invites and enrolled users (issue 16). */
  readonly enrollment?: { users(): unknown[]; invites(): { state: string }[] };
  /** Server key rotation records by server name. */
  readonly rotation?: { readonly records: ReadonlyMap<string, { gen: number }> };
  /** Protocol sessions (issue 15). */
  readonly sessionPath?: { readonly table: { readonly size: number } };
}

/** Invite states as `siglatch_enrollments` labels them (a used invite is an enrolled user). */
const INVITE_STATES = ["open", "pending", "approved"] as const;
/** Decoy types (`decoy_<type>_hits` counters). */
const DECOY_TYPES = ["banner", "tarpit", "random"] as const;

/** Request duration buckets (seconds): a builtin answers in well under a millisecond. */
const DURATION_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** Counters whose meaning is a datagram's verdict (the rest are events). */
const VERDICT_COUNTERS: Record<string, string> = {
  accepted: "accepted",
  deaddrop: "deaddrop",
  chaff: "chaff",
  dry_run: "dry_run",
};

/** Counters that are sums of others or have their own family. */
const SKIPPED = new Set(["dropped", "received"]);

const STATUS_NAMES = new Map<number, string>(
  Object.entries(ReplyStatus).map(([name, n]) => [n, name.toLowerCase()]),
);

/** The daemon's metrics registry. */
export class DaemonMetrics {
  readonly registry = new Registry();
  /** Accepted requests by user, action and reply status. */
  readonly requests: Counter;
  /** Seconds from accept to the outcome, by action. */
  readonly duration: Histogram;
  readonly #clock: () => number;

  /** Creates the registry over `source`. */
  constructor(source: MetricsSource, clock: () => number = Date.now) {
    this.#clock = clock;
    const r = this.registry;
    const counters = () => Object.entries(source.counters);
    r.add(
      new Gauge(
        "siglatch_datagrams_received_total",
        "Datagrams read from the listening sockets.",
        () => [{ value: source.counters.received ?? 0 }],
        true,
      ),
    );
    r.add(
      new Gauge(
        "siglatch_datagrams_total",
        "Datagrams by verdict (accepted, rejected, deaddrop, chaff, dry_run) and reason.",
        () => {
          const out: Sample[] = [];
          for (const [name, value] of counters()) {
            if (name.startsWith("drop_")) {
              out.push({ labels: { verdict: "rejected", reason: name.slice(5) }, value });
            } else if (VERDICT_COUNTERS[name]) {
              out.push({ labels: { verdict: VERDICT_COUNTERS[name], reason: "" }, value });
            }
          }
          return out;
        },
        true,
      ),
    );
    r.add(
      new Gauge(
        "siglatch_events_total",
        "Other events the daemon counts (replies, challenges, reloads, errors), by event.",
        () =>
          counters()
            .filter(([n]) => !n.startsWith("drop_") && !VERDICT_COUNTERS[n] && !SKIPPED.has(n))
            .map(([event, value]) => ({ labels: { event }, value })),
        true,
      ),
    );
    this.requests = r.add(
      new Counter(
        "siglatch_requests_accepted_total",
        "Accepted requests by user, action and reply status.",
      ),
    );
    this.duration = r.add(
      new Histogram(
        "siglatch_request_duration_seconds",
        "Time from accepting a request to its outcome (nonce commit and action run), by action.",
        DURATION_BUCKETS,
      ),
    );
    const gauge = (name: string, help: string, read: () => Sample[], asCounter = false) =>
      r.add(new Gauge(name, help, read, asCounter));
    const one = (f: () => number) => () => [{ value: f() }];
    gauge(
      "siglatch_bans",
      "Active bans.",
      one(() => source.defense.gate.bans(this.#clock()).length),
    );
    gauge(
      "siglatch_tracked_sources",
      "Sources the rate limiter tracks.",
      one(() => source.defense.gate.tracked),
    );
    gauge(
      "siglatch_grants",
      "Live firewall grants.",
      one(() => source.sessions?.list().grants.length ?? 0),
    );
    gauge(
      "siglatch_sessions",
      "Live keepalive/destructor sessions.",
      one(() => source.sessions?.list().sessions.length ?? 0),
    );
    gauge(
      "siglatch_replay_cache_entries",
      "Nonces in the replay cache.",
      one(() => source.replay.size),
    );
    gauge("siglatch_actions_running", "Exec actions running.", one(() => source.limiter.running));
    gauge(
      "siglatch_actions_queued",
      "Exec actions waiting for a slot.",
      one(() => source.limiter.waiting),
    );
    gauge(
      "siglatch_open_workers",
      "Open workers (0: requests open on the main thread).",
      one(() => source.openPool()?.size ?? 0),
    );
    gauge(
      "siglatch_open_queue_depth",
      "Datagrams queued for or in the open workers.",
      one(() => source.openPool()?.depth ?? 0),
    );
    gauge(
      "siglatch_open_worker_requests_total",
      "Datagrams the open workers opened.",
      one(() => source.openPool()?.opened ?? 0),
      true,
    );
    gauge(
      "siglatch_kernel_drops_total",
      "Datagrams the kernel dropped on a listening socket (receive buffer full), by address.",
      () =>
        source.listenerStatus().filter((s) => s.kernel_drops !== undefined)
          .map((s) => ({ labels: { listen: s.address }, value: s.kernel_drops! })),
      true,
    );
    const counter = (name: string, help: string, event: string) =>
      gauge(name, help, one(() => source.counters[event] ?? 0), true);
    const byLabel = (label: string, events: Record<string, string>) => () =>
      Object.entries(events).map(([value, event]) => ({
        labels: { [label]: value },
        value: source.counters[event] ?? 0,
      }));
    // Sessions (PROTOCOL §18).
    gauge(
      "siglatch_client_sessions",
      "Protocol sessions open now.",
      one(() => source.sessionPath?.table.size ?? 0),
    );
    counter(
      "siglatch_client_sessions_opened_total",
      "Protocol sessions opened.",
      "sessions_opened",
    );
    counter(
      "siglatch_client_sessions_closed_total",
      "Protocol sessions closed.",
      "sessions_closed",
    );
    counter(
      "siglatch_session_commands_total",
      "Commands run inside sessions.",
      "session_commands",
    );
    counter(
      "siglatch_session_streams_total",
      "Streamed outputs sessions delivered.",
      "session_streams",
    );
    // Enrollment.
    gauge(
      "siglatch_enrollments",
      "Invites by state (open, pending approval, approved) and enrolled users (enrolled).",
      () => {
        const e = source.enrollment;
        const invites = e?.invites() ?? [];
        return [
          ...INVITE_STATES.map((state) => ({
            labels: { state },
            value: invites.filter((i) => i.state === state).length,
          })),
          { labels: { state: "enrolled" }, value: e?.users().length ?? 0 },
        ];
      },
    );
    gauge(
      "siglatch_enroll_requests_total",
      "Enroll requests by result (enrolled, pending approval, refused).",
      byLabel("result", {
        enrolled: "enrolled",
        pending: "enroll_pending",
        refused: "enroll_refused",
      }),
      true,
    );
    // Key rotations.
    gauge(
      "siglatch_server_key_generation",
      "Server key generation (rotations so far, cluster-wide), by server.",
      () =>
        [...source.rotation?.records ?? []].map(([server, r]) => ({
          labels: { server },
          value: r.gen,
        })),
    );
    counter(
      "siglatch_user_key_rotations_total",
      "User HMAC keys rotated by this node (admin rotate and keys.rotate_users_every).",
      "user_key_rotations",
    );
    // Relays.
    gauge(
      "siglatch_relay_requests_total",
      "Relay layers by result (relayed, refused by the relay's checks, busy).",
      byLabel("result", { relayed: "relayed", refused: "relay_refused", busy: "relay_busy" }),
      true,
    );
    // Decoys.
    gauge(
      "siglatch_decoy_hits_total",
      "Connections and datagrams that reached a decoy port, by decoy type.",
      () =>
        DECOY_TYPES.map((type) => ({
          labels: { type },
          value: source.counters[`decoy_${type}_hits`] ?? 0,
        })),
      true,
    );
    counter("siglatch_decoy_answers_total", "Answers decoys sent.", "decoy_answers");
    gauge("siglatch_build_info", "Always 1; the labels say which build runs.", () => [{
      labels: { version: VERSION, deno: Deno.version.deno },
      value: 1,
    }]);
    gauge("siglatch_config_version", "1 + successful reloads.", one(() => source.configVersion));
    gauge(
      "siglatch_start_time_seconds",
      "Start time (Unix seconds).",
      one(() => source.started / 1000),
    );
  }

  /** Records an accepted request's outcome. */
  accepted(user: string, action: string, status: number, seconds: number): void {
    const labels: Labels = { user, action, status: STATUS_NAMES.get(status) ?? String(status) };
    this.requests.inc(labels);
    this.duration.observe(seconds, { action });
  }

  /** The text exposition. */
  render(): string {
    return this.registry.render();
  }
}
