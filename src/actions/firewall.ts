/**
 * The `firewall` action: open the configured ports for one address for a bounded time.
 *
 * Grants are records in the state store (namespace `grants`, one per user + action +
 * address, expiring with the grant) and elements in the kernel (see `src/nft/grants.ts`). The store is
 * the truth: at start the kernel sets are rebuilt from it, so `list` and the open doors
 * survive a restart. When two grants cover the same address and port (two users behind one
 * NAT address, or two actions), the kernel element carries the later expiry, and revoking
 * one grant keeps the element for the other.
 * @module
 */
import type { StateStore } from "../state/store.ts";
import { anyCidrContains, type Cidr, formatIp, type IpAddress, parseIp } from "../util/ip.ts";
import type { PortSpec } from "../nft/grants.ts";
import type { GrantsBackend } from "../nft/backend.ts";
import { GrantIndex } from "./grant_index.ts";

/** Store namespace of grants. */
export const GRANTS_NAMESPACE = "grants";

/** One grant, as stored. */
export interface GrantRecord {
  /** Store key: `USERID|ACTION|ADDRESS`. */
  key: string;
  /** User id. */
  userId: number;
  /** User name. */
  user: string;
  /** Action name. */
  action: string;
  /** The address the ports are open for (canonical text). */
  address: string;
  /** The address the request came from. */
  source: string;
  /** Ports. */
  ports: PortSpec[];
  /** First granted (epoch ms). */
  createdAt: number;
  /** Last granted or renewed (epoch ms). */
  renewedAt: number;
  /** End (epoch ms). */
  expiresAt: number;
}

/** A grant with the time it has left. */
export interface GrantView extends GrantRecord {
  /** Milliseconds left. */
  remainingMs: number;
}

/** What to grant. */
export interface GrantRequest {
  /** User id. */
  userId: number;
  /** User name. */
  user: string;
  /** Action name. */
  action: string;
  /** Address to open for. */
  address: IpAddress;
  /** Request source. */
  source: IpAddress;
  /** Ports. */
  ports: PortSpec[];
  /** Duration (ms). */
  durationMs: number;
  /** Never past this (epoch ms), e.g. a session's max lifetime. */
  notAfter?: number;
  /** Wait for the kernel change (default true). */
  wait?: boolean;
}

/** Which grants to revoke or list (all given fields must match). */
export interface GrantFilter {
  /** Exact key. */
  key?: string;
  /** User id. */
  userId?: number;
  /** Address (text). */
  address?: string;
  /** Action name. */
  action?: string;
}

/** The firewall part of an action's config (as in `ActionSchema.firewall`). */
export interface FirewallSettings {
  /** Ports to open. */
  ports: PortSpec[];
  /** Duration (ms). */
  duration: number;
  /** May the payload name another address. */
  allow_payload_address: boolean;
}

/** The outcome of resolving which address to open for. */
export type AddressDecision =
  | { ok: true; address: IpAddress }
  | { ok: false; reason: string };

const MAX_ADDRESS_PAYLOAD = 64;

/**
 * Picks the address to open for: the source, or the address the payload names when the
 * action allows it. The payload is the address as text (surrounding white space ignored);
 * an empty payload means the source. Refused: a payload address when not allowed, anything
 * that is not one IP literal, unspecified/loopback/multicast/broadcast/link-local
 * addresses, and addresses outside `allowCidrs` (the action's CIDRs) when given.
 */
export function grantAddress(
  fw: Pick<FirewallSettings, "allow_payload_address">,
  source: IpAddress,
  payload: Uint8Array,
  allowCidrs?: readonly Cidr[],
): AddressDecision {
  if (payload.length === 0) return { ok: true, address: source };
  if (payload.length > MAX_ADDRESS_PAYLOAD) return { ok: false, reason: "payload_address_invalid" };
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(payload).trim();
  } catch {
    return { ok: false, reason: "payload_address_invalid" };
  }
  if (text === "") return { ok: true, address: source };
  const ip = /^[0-9A-Fa-f:.]+$/.test(text) ? parseIp(text) : undefined;
  if (!ip) return { ok: false, reason: "payload_address_invalid" };
  if (ip.family === source.family && ip.value === source.value) return { ok: true, address: ip };
  if (!fw.allow_payload_address) return { ok: false, reason: "payload_address_not_allowed" };
  if (!isGrantable(ip)) return { ok: false, reason: "payload_address_invalid" };
  if (allowCidrs && allowCidrs.length > 0 && !anyCidrContains(allowCidrs, ip)) {
    return { ok: false, reason: "payload_address_outside_cidrs" };
  }
  return { ok: true, address: ip };
}

/** False for addresses a grant must never name (unspecified, loopback, multicast, …). */
export function isGrantable(ip: IpAddress): boolean {
  if (ip.family === 4) {
    const a = Number(ip.value >> 24n);
    if (a === 0 || a === 127 || a >= 224) return false; // this-net, loopback, multicast, reserved
    if ((ip.value >> 16n) === 0xa9fen) return false; // 169.254/16 link-local
    return true;
  }
  if (ip.value === 0n || ip.value === 1n) return false; // :: and ::1
  const top = Number(ip.value >> 112n);
  if ((top & 0xff00) === 0xff00) return false; // multicast
  if ((top & 0xffc0) === 0xfe80) return false; // link-local
  return true;
}

/** Options for {@linkcode FirewallGrants}. */
export interface FirewallGrantsOptions {
  /** Clock (epoch ms). */
  clock?: () => number;
  /**
   * The ports a stored grant may open, from the config loaded now, or why it may not be
   * restored (see `grantPorts` in `sessions.ts`). Without it every stored grant is restored
   * with its stored ports (tests of this class alone).
   */
  ports?: (rec: GrantRecord) => PortSpec[] | string;
}

const GRANT_FIELDS = new Set([
  "key",
  "userId",
  "user",
  "action",
  "address",
  "source",
  "ports",
  "createdAt",
  "renewedAt",
  "expiresAt",
]);
const GRANT_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
const MAX_TIME = 9_999_999_999_999;

function canonical(v: unknown): v is string {
  if (typeof v !== "string" || !/^[0-9a-f:.]{2,45}$/.test(v)) return false;
  const ip = parseIp(v);
  return ip !== undefined && formatIp(ip) === v;
}
function isTime(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_TIME;
}

/**
 * Validates a grant record read from the store under `key`: types, ranges, canonical
 * addresses (a grantable one), at most 64 ports, no unknown field, the key rebuilt from its
 * fields. Returns the record, or why it is refused.
 */
export function readGrantRecord(key: string, value: unknown): GrantRecord | string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not an object";
  const r = value as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!GRANT_FIELDS.has(k)) return `unknown field ${k}`;
  if (
    typeof r.userId !== "number" || !Number.isInteger(r.userId) || r.userId < 1 ||
    r.userId > 0xffffffff
  ) return "userId out of range";
  if (typeof r.user !== "string" || !GRANT_NAME.test(r.user)) return "bad user name";
  if (typeof r.action !== "string" || !GRANT_NAME.test(r.action)) return "bad action name";
  if (!canonical(r.address)) return "address is not a canonical IP address";
  if (!isGrantable(parseIp(r.address)!)) return "address may not be granted";
  if (!canonical(r.source)) return "source is not a canonical IP address";
  if (r.key !== key || key !== FirewallGrants.key(r.userId, r.action, r.address)) {
    return "key does not match the record";
  }
  if (!Array.isArray(r.ports) || r.ports.length === 0 || r.ports.length > 64) return "bad ports";
  for (const p of r.ports) {
    if (
      typeof p !== "object" || p === null || Object.keys(p).length !== 2 ||
      (p.proto !== "tcp" && p.proto !== "udp") || !Number.isInteger(p.port) || p.port < 1 ||
      p.port > 65535
    ) return "bad ports";
  }
  if (!isTime(r.createdAt) || !isTime(r.renewedAt) || !isTime(r.expiresAt)) return "bad times";
  return r as unknown as GrantRecord;
}

/** Grants in the store and the kernel; see the module doc. */
export class FirewallGrants {
  readonly #store: StateStore;
  readonly #nft: GrantsBackend;
  readonly #clock: () => number;
  readonly #ports?: (rec: GrantRecord) => PortSpec[] | string;
  readonly #records = new GrantIndex<GrantRecord>();

  /** Creates the manager over a store and an nft backend (not set up yet). */
  constructor(store: StateStore, nft: GrantsBackend, opts: FirewallGrantsOptions = {}) {
    this.#store = store;
    this.#nft = nft;
    this.#clock = opts.clock ?? Date.now;
    this.#ports = opts.ports;
  }

  /** The nft backend. */
  get nft(): GrantsBackend {
    return this.#nft;
  }

  /**
   * Loads unexpired grants from the store and (re)builds the kernel sets from them. Each
   * record is validated first, and opens only the ports its action has in the config now;
   * a refused record is skipped, counted and logged (`store.audit`).
   */
  async start(): Promise<void> {
    const now = this.#clock();
    for (const stored of await this.#store.list<unknown>(GRANTS_NAMESPACE, now)) {
      const rec = readGrantRecord(stored.key, stored.value);
      const ports = typeof rec === "string" ? rec : this.#ports?.(rec) ?? rec.ports;
      if (typeof rec === "string" || typeof ports === "string") {
        this.#store.audit.reject(GRANTS_NAMESPACE, stored.key, ports as string);
        continue;
      }
      if (rec.expiresAt > now) this.#records.set({ ...rec, ports });
    }
    await this.#nft.setup([...this.#records.values()]);
  }

  /** Record key for a grant. */
  static key(userId: number, action: string, address: string): string {
    return `${userId}|${action}|${address}`;
  }

  /** Latest expiry among live grants covering `address` + port, or 0. */
  #coverage(address: string, p: PortSpec, now: number): number {
    let best = 0;
    for (const r of this.#records.forAddress(address)) {
      if (r.expiresAt <= now) continue;
      if (r.ports.some((q) => q.proto === p.proto && q.port === p.port)) {
        best = Math.max(best, r.expiresAt);
      }
    }
    return best;
  }

  /** Applies the kernel state for `ports` of `address` from the live records. */
  #sync(address: string, ports: readonly PortSpec[], now: number): Promise<void> {
    const jobs: Promise<void>[] = [];
    for (const p of ports) {
      const until = this.#coverage(address, p, now);
      jobs.push(
        until > now ? this.#nft.grant(address, [p], until - now) : this.#nft.revoke(address, [p]),
      );
    }
    return Promise.all(jobs).then(() => {});
  }

  /** Grants (or renews) and returns the record. */
  async grant(req: GrantRequest): Promise<GrantRecord> {
    const now = this.#clock();
    this.#records.sweep(now);
    const address = formatIp(req.address);
    const key = FirewallGrants.key(req.userId, req.action, address);
    let expiresAt = now + req.durationMs;
    if (req.notAfter !== undefined) expiresAt = Math.min(expiresAt, req.notAfter);
    const prev = this.#records.get(key);
    const rec: GrantRecord = {
      key,
      userId: req.userId,
      user: req.user,
      action: req.action,
      address,
      source: formatIp(req.source),
      ports: req.ports.map((p) => ({ proto: p.proto, port: p.port })),
      createdAt: prev?.createdAt ?? now,
      renewedAt: now,
      expiresAt,
    };
    this.#records.set(rec);
    // Ports a changed config no longer lists must not stay open.
    const dropped = (prev?.ports ?? []).filter((p) =>
      !rec.ports.some((q) => q.proto === p.proto && q.port === p.port)
    );
    await this.#store.set(GRANTS_NAMESPACE, key, rec, expiresAt);
    const applied = this.#sync(address, [...rec.ports, ...dropped], now);
    if (req.wait ?? true) await applied;
    else applied.catch(() => {});
    return rec;
  }

  /** Revokes every grant matching `filter`; returns them. */
  async revoke(filter: GrantFilter): Promise<GrantRecord[]> {
    const now = this.#clock();
    const candidates = filter.address !== undefined
      ? this.#records.forAddress(filter.address)
      : this.#records.values();
    const gone = [...candidates].filter((r) => matches(r, filter));
    for (const r of gone) this.#records.delete(r.key);
    await Promise.all(gone.map((r) => this.#store.delete(GRANTS_NAMESPACE, r.key)));
    await Promise.all(gone.map((r) => this.#sync(r.address, r.ports, now)));
    return gone.filter((r) => r.expiresAt > now);
  }

  /** Live grants matching `filter`, soonest end first, with time left. */
  list(filter: GrantFilter = {}): GrantView[] {
    const now = this.#clock();
    this.#records.sweep(now);
    return [...this.#records.values()].filter((r) => r.expiresAt > now && matches(r, filter))
      .sort((a, b) => a.expiresAt - b.expiresAt)
      .map((r) => ({ ...r, remainingMs: r.expiresAt - now }));
  }
}

function matches(r: GrantRecord, f: GrantFilter): boolean {
  return (f.key === undefined || r.key === f.key) &&
    (f.userId === undefined || r.userId === f.userId) &&
    (f.address === undefined || r.address === f.address) &&
    (f.action === undefined || r.action === f.action);
}
