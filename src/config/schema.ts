/**
 * The siglatchd configuration model as a zod schema: the single source of truth for
 * validation, for the TypeScript types the daemon uses, and for the JSON Schema that
 * editors use (`siglatch schema`).
 *
 * Values are normalised while parsing: durations become milliseconds, listen addresses
 * and CIDRs become parsed structures, action/user references stay as written (names or
 * ids) and are resolved by the linter and the daemon.
 *
 * @module
 */
import { z } from "zod";
import { parseDuration } from "./duration.ts";
import { type Cidr, type ListenAddress, parseCidr, parseIp, parseListen } from "../util/ip.ts";
import { type ExpandedListen, expandListen } from "./listen_spec.ts";
import { isLoopbackIp } from "../util/loopback.ts";

/** A duration: `30s`, `5m`, `1h30m`, `250ms`, or a number of seconds. Parsed to milliseconds. */
export const Duration = z.union([z.string(), z.number()])
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.issues.push({
        code: "custom",
        input: value,
        message: `"${value}" is not a duration: expected e.g. 30s, 5m, 1h30m, 250ms or seconds`,
      });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ description: "Duration such as 30s, 5m, 1h30m, 250ms, or a number of seconds." });

/** A CIDR block (`10.0.0.0/8`, `2001:db8::/32`, or a single address). */
export const CidrText = z.string().transform((value, ctx): Cidr => {
  const cidr = parseCidr(value);
  if (!cidr) {
    ctx.issues.push({
      code: "custom",
      input: value,
      message: `"${value}" is not a CIDR: expected ADDRESS/PREFIX such as 10.0.0.0/8 or ::1/128`,
    });
    return z.NEVER;
  }
  return cidr;
}).meta({ description: "CIDR block such as 192.0.2.0/24 or 2001:db8::/32, or one address." });

/** A list of CIDR blocks. */
export const CidrList = z.array(CidrText);

/** A UDP listen address `HOST:PORT` (IPv6 in brackets). */
export const ListenText = z.string().transform((value, ctx): ListenAddress => {
  const parsed = parseListen(value);
  if (typeof parsed === "string") {
    ctx.issues.push({ code: "custom", input: value, message: parsed });
    return z.NEVER;
  }
  return parsed;
}).meta({ description: "UDP listen address HOST:PORT, IPv6 in brackets: [::1]:50000." });

/** A server's listen entry: `HOST:PORT`, `HOST:LO-HI` or `HOST:P1,P2,LO-HI` (issue 17). */
export const ListenSpecText = z.string().transform((value, ctx): ListenAddress[] => {
  const parsed = expandListen(value);
  if (typeof parsed === "string") {
    ctx.issues.push({ code: "custom", input: value, message: parsed });
    return z.NEVER;
  }
  return parsed;
}).meta({
  description: "UDP listen address HOST:PORT, IPv6 in brackets: [::1]:50000; several ports as " +
    "a range or list: 127.0.0.1:50000-50003, [::1]:50000,50010.",
});

/** A timestamp (ISO 8601 with time zone, or YAML date). Parsed to epoch milliseconds. */
export const Timestamp = z.union([z.string(), z.date()]).transform((value, ctx) => {
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  if (!Number.isFinite(ms)) {
    ctx.issues.push({
      code: "custom",
      input: value,
      message: `"${value}" is not a timestamp: expected ISO 8601 such as 2026-01-31T18:00:00Z`,
    });
    return z.NEVER;
  }
  return ms;
}).meta({ description: "ISO 8601 timestamp, e.g. 2026-01-31T18:00:00Z." });

/**
 * Cross-field checks run even when a field has its own error (so `check` reports every
 * problem at once), as long as the value is a mapping at all.
 */
function isMapping(payload: { value: unknown }): boolean {
  return typeof payload.value === "object" && payload.value !== null &&
    !Array.isArray(payload.value);
}

const Name = z.string().regex(
  /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
  "expected a name of 1-64 letters, digits, '_', '.', '-' starting with a letter or digit",
);

/** A reference to an action or user: its name or its numeric id. */
export const Reference = z.union([Name, z.number().int().nonnegative()]);

/**
 * Schemas of fields whose feature is not built yet, with the message `check` gives.
 * The JSON Schema shows them as refused (`not: {}`) so editors flag them too.
 */
const NOT_IMPLEMENTED = new WeakMap<z.core.$ZodType, string>();

/**
 * A field whose feature is not built yet: its type stays in the schema (so the issue that
 * builds it only has to drop this wrapper), but any value is refused with
 * "not implemented yet (issue N)", before its contents are checked.
 */
export function notImplemented<T extends z.ZodType>(schema: T, why: string) {
  const message = `not implemented yet (${why}): remove this setting`;
  const refused = z.preprocess((value, ctx) => {
    if (value !== undefined) ctx.issues.push({ code: "custom", input: value, message });
    return value;
  }, schema.optional()).meta({ description: `Not implemented yet (${why}); refused.` });
  NOT_IMPLEMENTED.set(refused, message);
  return refused;
}

/** The refusal message of a {@linkcode notImplemented} field's schema; undefined for others. */
export function notImplementedMessage(schema: z.core.$ZodType): string | undefined {
  return NOT_IMPLEMENTED.get(schema);
}

/** Action types whose handler is not built yet (refused by the schema). */
export const UNBUILT_ACTION_TYPES: Readonly<Record<string, string>> = {};

/**
 * Per-source rate limiting and ban escalation (applied before any cryptography). One
 * daemon-wide section: the gate runs per source address before the server matters, and a
 * ban drops the source on every server (and in the kernel for all of the daemon's ports).
 */
export const RateLimitSchema = z.strictObject({
  per_source_rate: z.number().positive().default(50)
    .meta({
      description: "Datagrams per second allowed from one source (IPv4 address or IPv6 prefix).",
    }),
  per_source_burst: z.number().positive().default(100),
  fail_rate: z.number().positive().default(2)
    .meta({ description: "Failed datagrams per second a source may send before it is banned." }),
  fail_burst: z.number().positive().default(20),
  ipv6_prefix: z.number().int().min(32).max(128).default(64),
  ban_time: Duration.prefault(60),
  ban_backoff: z.number().min(1).max(100).default(2),
  ban_max: Duration.prefault(86400),
  permanent_after: z.number().int().nonnegative().default(0)
    .meta({ description: "Temporary bans before a permanent ban; 0 = never permanent." }),
  max_tracked_sources: z.number().int().min(16).max(10_000_000).default(100_000),
  pressure_fail_rate: z.number().positive().default(5000)
    .meta({
      description: "Failed datagrams/s (all sources) above which the daemon enters pressure mode.",
    }),
  nftables: z.boolean().default(false)
    .meta({ description: "Mirror bans into the nftables set inet siglatch banned_v4/banned_v6." }),
  nftables_scope: z.enum(["ports", "all"]).default("ports")
    .meta({
      description:
        "Kernel drop for banned sources: only to the daemon's UDP ports, or all traffic.",
    }),
  nftables_remove_on_shutdown: z.boolean().default(true)
    .meta({
      description: "Delete the ban chain and sets from inet siglatch when the daemon stops.",
    }),
  allow: CidrList.default([])
    .meta({ description: "Sources that are never banned and never squeezed under pressure." }),
  deny: CidrList.default([])
    .meta({ description: "Sources whose datagrams are always dropped before anything else." }),
  max_bans: z.number().int().min(16).max(10_000_000).default(100_000)
    .meta({
      description: "Most bans (and ban histories) held in memory; new bans beyond are refused.",
    }),
  pressure_source_rate: z.number().positive().default(1)
    .meta({ description: "Datagrams/s per unproven source while in pressure mode." }),
  proven_ttl: Duration.prefault(3600)
    .meta({
      description: "How long a source that authenticated stays exempt from bans and pressure.",
    }),
});

/** Limits for one server. */
export const ServerLimitsSchema = z.strictObject({
  max_datagram: notImplemented(
    z.number().int().min(128).max(1400),
    "no issue yet; requests are at most 1400 bytes, the wire format's limit",
  ),
  clock_skew: Duration.prefault(30).meta({
    description: "Accepted clock difference each way for this server's requests; the replay " +
      "cache keeps nonces for the largest clock_skew of all servers.",
  }),
  recv_buffer: z.number().int().min(65536).max(256 * 1024 * 1024).default(4 * 1024 * 1024)
    .meta({
      description: "Socket receive buffer in bytes (SO_RCVBUF; needs --allow-ffi for libc).",
    }),
  explain_refusals: z.boolean().default(true)
    .meta({ description: "Tell authenticated clients why a request was refused." }),
});

/** Sessions (several commands after one handshake; docs/PROTOCOL.md §18). */
export const SessionLimitsSchema = z.strictObject({
  max: z.number().int().min(0).max(1_000_000).default(4096)
    .meta({
      description: "Most open sessions (all users); 0 turns sessions off. New ones " +
        "beyond it are refused, open ones are never evicted.",
    }),
  per_user: z.number().int().min(1).max(100_000).default(8)
    .meta({ description: "Most open sessions of one user; new ones beyond it are refused." }),
  idle: Duration.prefault(60)
    .meta({ description: "A session without a valid datagram for this long ends." }),
  lifetime: Duration.prefault(3600)
    .meta({ description: "A session ends this long after it opened, however busy." }),
  max_messages: z.number().int().min(1).max(2 ** 40).default(1_000_000)
    .meta({ description: "A session ends after this many datagrams from the client." }),
});

/** Daemon-wide limits: one reply limiter and one replay cache serve every server. */
export const DaemonLimitsSchema = z.strictObject({
  reply_rate: z.number().positive().default(20)
    .meta({ description: "Replies per second to one destination address (all servers)." }),
  replay_cache_entries: z.number().int().min(1000).max(10_000_000).default(1_000_000)
    .meta({ description: "Most nonces the replay cache holds (all servers; restart to change)." }),
  open_workers: z.number().int().min(0).max(64).optional().meta({
    description: "Workers that open requests (X25519 + AEAD) off the receive loop; 0 opens " +
      "in the receive loop itself. Default: one per CPU. Restart to change.",
  }),
  open_queue: z.number().int().min(16).max(100_000).default(2048).meta({
    description: "Most datagrams waiting for a worker; beyond it unproven ones are dropped " +
      "(proven ones push out the oldest unproven).",
  }),
  sessions: SessionLimitsSchema.default(() => SessionLimitsSchema.parse({})),
});

const PortNumber = z.number().int().min(1).max(65535);

/** Ports derived from a secret per window (knock sequences, port hopping; issue 17). */
const DerivedPortsSchema = {
  secret_file: z.string().min(1)
    .meta({ description: "32-byte secret (base64 or raw), mode 0600, shared with clients." }),
  range: z.tuple([PortNumber, PortNumber]).default([40000, 40999])
    .meta({ description: "Lowest and highest port the derived ports are chosen from." }),
  period: Duration.prefault(60)
    .meta({ description: "How long one window lasts; the ports change with the window." }),
};

/**
 * A port-knock sequence that must precede a request on this server (issue 17): static
 * (`ports`, knockd-compatible) or derived per user and window from a secret (`derived`).
 * nftables keeps the per-source state; the server's ports are dropped for sources that
 * did not knock.
 */
export const KnockSchema = z.strictObject({
  ports: z.array(PortNumber).min(1).max(16).optional()
    .meta({
      description: "Static sequence (knockd-compatible): anyone who sees it can repeat it.",
    }),
  derived: z.strictObject({
    ...DerivedPortsSchema,
    length: z.number().int().min(1).max(8).default(3)
      .meta({ description: "Knocks per sequence." }),
    grace: Duration.prefault(0).meta({
      description: "After a window change, the previous window's sequence still opens for " +
        "this long (clocks need not agree so tightly); 0: off. Below period.",
    }),
  }).optional().meta({
    description: "Sequences derived per user and window: HMAC(secret, user, window) mapped " +
      "into range; a sequence seen once is useless in the next window.",
  }),
  proto: z.enum(["udp", "tcp"]).default("udp")
    .meta({ description: "Knocks are UDP datagrams or TCP SYNs." }),
  window: Duration.prefault(10)
    .meta({ description: "Longest wait between two knocks (a wrong port starts over)." }),
  open_for: Duration.prefault(30)
    .meta({ description: "How long a source that knocked may send requests." }),
}).superRefine((k, ctx) => {
  if ((k.ports === undefined) === (k.derived === undefined)) {
    ctx.addIssue({ code: "custom", message: "knock needs either ports (static) or derived" });
  }
  if (k.ports && new Set(k.ports).size !== k.ports.length) {
    ctx.addIssue({ code: "custom", path: ["ports"], message: "a port may appear only once" });
  }
  if (k.derived && k.derived.grace >= k.derived.period) {
    ctx.addIssue({
      code: "custom",
      path: ["derived", "grace"],
      message: "grace must be below period",
    });
  }
  const r = k.derived?.range;
  if (r && r[1] - r[0] + 1 < 4 * (k.derived?.length ?? 1)) {
    ctx.addIssue({
      code: "custom",
      path: ["derived", "range"],
      message: "the range needs at least 4 ports per knock",
    });
  }
}, { when: isMapping });

/** A listening port that moves with the time window (issue 17). */
export const PortHoppingSchema = z.strictObject({
  ...DerivedPortsSchema,
  overlap: Duration.prefault(5).meta({
    description: "How long the previous window's port still listens after the change.",
  }),
}).superRefine((h, ctx) => {
  if (h.range[1] < h.range[0]) {
    ctx.addIssue({ code: "custom", path: ["range"], message: "range runs backwards: [LO, HI]" });
  }
  if (h.range[0] < 1024) {
    ctx.addIssue({
      code: "custom",
      path: ["range"],
      message: "hopping ports start at 1024 (the network part binds them unprivileged)",
    });
  }
  if (h.overlap >= h.period) {
    ctx.addIssue({ code: "custom", path: ["overlap"], message: "overlap must be below period" });
  }
}, { when: isMapping });

/** Where the passphrase of an encrypted server key comes from (exactly one). */
export const PassphraseSchema = z.strictObject({
  file: z.string().min(1).optional().meta({ description: "File holding it (mode 0600)." }),
  env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional()
    .meta({ description: "Environment variable holding it." }),
  credential: z.string().regex(/^[A-Za-z0-9_.@-]+$/).optional().meta({
    description: "systemd credential name: read from $CREDENTIALS_DIRECTORY/NAME " +
      "(LoadCredentialEncrypted=NAME:FILE in the unit).",
  }),
}).refine((p) => [p.file, p.env, p.credential].filter((x) => x !== undefined).length === 1, {
  message: "give exactly one of file, env, credential",
  when: isMapping,
});

/** One listening server. */
export const ServerSchema = z.strictObject({
  name: Name,
  label: z.string().max(200).optional(),
  enabled: z.boolean().default(true),
  listen: z.array(ListenSpecText).min(1, "a server needs at least one listen address")
    .transform((entries): ExpandedListen[] =>
      entries.flatMap((list, entry) => list.map((l) => ({ ...l, entry })))
    ),
  mode: z.enum(["secure", "insecure"]).default("secure")
    .meta({
      description: "secure: sealed packets; insecure: signed but readable (onboarding only).",
    }),
  key_file: z.string().min(1).optional()
    .meta({
      description: "Server X25519 private key (PEM, PKCS#8, plain or encrypted), mode 0600.",
    }),
  key_command: z.array(z.string().min(1)).min(1).optional().meta({
    description: "Instead of key_file: argv of a secret manager's CLI that prints the PEM " +
      "(run at start and on reload; no shell), e.g. [pass, show, siglatch/server].",
  }),
  key_passphrase: PassphraseSchema.optional()
    .meta({ description: "Passphrase of an encrypted PKCS#8 key (from key_file or key_command)." }),
  identity_key_file: z.string().min(1).optional().meta({
    description: "Server Ed25519 identity key (PEM, PKCS#8; encrypted with key_passphrase " +
      "too): `keygen cert` signs the X25519 key with it for profiles that pin it.",
  }),
  allow_cidrs: CidrList.default(() => [parseCidr("0.0.0.0/0")!, parseCidr("::/0")!]),
  deaddrops: z.boolean().default(false)
    .meta({ description: "Hand datagrams that do not open to matching dead drops." }),
  knock: KnockSchema.optional(),
  port_hopping: PortHoppingSchema.optional().meta({
    description: "Listen on a port derived from a secret per period (on each listen host), " +
      "instead of the listen ports; the client computes the same port.",
  }),
  challenge_under_load: z.boolean().default(true).meta({
    description: "Under load, answer datagrams without a valid mac2 with a cookie reply (no " +
      "public-key work) instead of opening them.",
  }),
  limits: ServerLimitsSchema.default(() => ServerLimitsSchema.parse({})),
}).refine((s) => (s.key_file === undefined) !== (s.key_command === undefined), {
  message: "a server needs exactly one of key_file, key_command",
  when: isMapping,
});

/** One user (client) allowed to send packets. */
export const UserSchema = z.strictObject({
  id: z.number().int().min(1).max(0xffffffff),
  name: Name,
  enabled: z.boolean().default(true),
  hmac_key_file: z.string().min(1).optional()
    .meta({ description: "32-byte HMAC key (base64 or raw), mode 0600." }),
  ed25519_public_key_file: z.string().min(1).optional()
    .meta({ description: "User Ed25519 public key (PEM, SPKI)." }),
  actions: z.array(Reference).default([]),
  servers: z.array(Name).optional()
    .meta({ description: "Servers this user may use; all when absent." }),
  allow_cidrs: CidrList.optional(),
  not_before: Timestamp.optional(),
  not_after: Timestamp.optional(),
  max_uses: z.number().int().positive().optional()
    .meta({ description: "Most requests that run, ever (cluster-wide; reset in admin `usage`)." }),
  max_uses_per_day: z.number().int().positive().optional()
    .meta({ description: "Most requests that run per UTC day (cluster-wide)." }),
  require_challenge: z.boolean().default(false),
}).refine((u) => u.hmac_key_file !== undefined || u.ed25519_public_key_file !== undefined, {
  message: "a user needs hmac_key_file or ed25519_public_key_file",
  when: isMapping,
});

/** Who a script runs as. */
export const RunAsSchema = z.union([
  z.string().min(1),
  z.strictObject({ user: z.string().min(1), group: z.string().min(1).optional() }),
]).meta({
  description: "User (and group) to run as: `nobody`, `nobody:nogroup` or {user, group}.",
});

/** Firewall grant settings (type: firewall). */
export const FirewallSchema = z.strictObject({
  ports: z.array(z.strictObject({
    proto: z.enum(["tcp", "udp"]).default("tcp"),
    port: z.number().int().min(1).max(65535),
  })).min(1),
  duration: Duration.prefault(300),
  allow_payload_address: z.boolean().default(false)
    .meta({ description: "Allow the client to name another address to open for in the payload." }),
});

/** Relay settings (type: relay): forward the client's sealed datagram to the next hop. */
export const RelaySchema = z.strictObject({
  to: ListenText.meta({
    description: "The next hop, HOST:PORT of a siglatch server: only this config names where " +
      "a relay forwards, never the client.",
  }),
  server_public_key: z.string().refine((v) => {
    try {
      return Uint8Array.fromBase64(v).length === 32;
    } catch {
      return false;
    }
  }, "expected base64 of a 32-byte X25519 public key").optional().meta({
    description: "The next hop's X25519 public key (base64): a datagram not for it (mac1) is " +
      "refused, and the relay can answer the next hop's cookie reply (prove its address).",
  }),
  timeout: Duration.prefault(3)
    .meta({ description: "How long to wait for the next hop's reply." }),
  max_pending: z.number().int().min(1).max(4096).default(64)
    .meta({ description: "Relayed requests of this action waiting for a reply at once." }),
  // 6: each layer adds at least 176 bytes around a 173-byte request within 1400 bytes.
  max_hops: z.number().int().min(1).max(6).default(4).meta({
    description: "Longest chain of relays, this one included, a request may still pass " +
      "(the client declares it in its sealed layer; the datagram size bounds it at 6).",
  }),
});

/** Pass-through settings (type: forward): a UDP port forward for authorised sources. */
export const ForwardSchema = z.strictObject({
  listen: ListenText.refine((l) => l.port >= 1024, "the forward's port must be 1024 or above")
    .meta({
      description: "Where clients send raw UDP (port ≥ 1024: the network part binds it " +
        "unprivileged).",
    }),
  to: ListenText.meta({ description: "The inner UDP service datagrams are forwarded to." }),
  duration: Duration.prefault(300)
    .meta({ description: "How long an authorised address may use the forward." }),
  max_flows: z.number().int().min(1).max(65536).default(256)
    .meta({ description: "Clients (address and port) forwarded at once." }),
});

/** Plugin settings (type: plugin): which loaded plugin runs, see docs/PLUGINS.md. */
export const PluginSchema = z.strictObject({
  name: Name.meta({ description: "The plugin's manifest name (a folder in `plugins.dir`)." }),
  action: Name.optional().meta({
    description: "Which of the plugin's actions (default: its first).",
  }),
  config: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({})
    .meta({ description: "Settings checked against the manifest's config schema." }),
});

/** Where plugins live (docs/PLUGINS.md). */
export const PluginsSchema = z.strictObject({
  dir: z.string().min(1).optional().meta({
    description: "Folder of plugin folders, each with a plugin.json manifest; read at start " +
      "and on reload.",
  }),
});

/** Built-in actions. */
export const BuiltinNames = [
  "ping",
  "version",
  "list_actions",
  "messages",
  "revoke",
  "list_grants",
] as const;

/** One action a user may run. */
export const ActionSchema = z.strictObject({
  id: z.number().int().min(1).max(65535),
  name: Name,
  type: z.enum(["exec", "builtin", "firewall", "plugin", "relay", "forward"]),
  enabled: z.boolean().default(true),
  description: z.string().max(500).optional(),
  command: z.array(z.string().min(1)).min(1).optional()
    .meta({ description: "argv for exec (no shell unless you name one: [/bin/sh, -c, ...])." }),
  builtin: z.enum(BuiltinNames).optional(),
  firewall: FirewallSchema.optional(),
  plugin: PluginSchema.optional(),
  relay: RelaySchema.optional(),
  forward: ForwardSchema.optional(),
  run_as: RunAsSchema.optional(),
  working_dir: z.string().optional(),
  timeout: Duration.prefault(30),
  output_cap: z.number().int().min(0).max(16 * 1024 * 1024).default(65536),
  keepalive: Duration.optional(),
  max_lifetime: Duration.optional(),
  destructor: z.union([z.array(z.string().min(1)).min(1), z.literal("revoke")]).optional(),
  allow_cidrs: CidrList.optional(),
  reply: z.boolean().default(true),
  require_ascii: z.boolean().default(false),
  require_challenge: z.boolean().default(false),
  max_payload: z.number().int().min(0).max(65536).default(1024),
}).superRefine((a, ctx) => {
  const need = (field: keyof typeof a, what: string) => {
    if (a[field] === undefined) {
      ctx.addIssue({ code: "custom", path: [field], message: `type ${a.type} needs ${what}` });
    }
  };
  if (a.type === "exec") need("command", "command: [argv...]");
  if (a.type === "builtin") need("builtin", `builtin: one of ${BuiltinNames.join(", ")}`);
  if (a.type === "firewall") need("firewall", "firewall: {ports: [...], duration}");
  if (a.type === "plugin") need("plugin", "plugin: {name, action, config}");
  if (a.type === "relay") need("relay", "relay: {to: HOST:PORT, server_public_key}");
  if (a.type === "forward") need("forward", "forward: {listen: HOST:PORT, to: HOST:PORT}");
  const unbuilt = UNBUILT_ACTION_TYPES[a.type];
  if (unbuilt) {
    ctx.addIssue({
      code: "custom",
      path: ["type"],
      message: `type ${a.type} is not implemented yet (${unbuilt}): use exec, builtin or firewall`,
    });
  }
  if (
    a.destructor !== undefined && a.keepalive === undefined && a.max_lifetime === undefined &&
    a.type !== "firewall"
  ) {
    ctx.addIssue({
      code: "custom",
      path: ["destructor"],
      message: "a destructor needs keepalive (or max_lifetime) to know when to run",
    });
  }
}, { when: isMapping });

/** A dead drop: raw datagrams with this prefix go to an exec action. */
export const DeadDropSchema = z.strictObject({
  name: Name,
  prefix: z.string().min(1).max(64)
    .refine((p) => !p.startsWith("hex:") || /^hex:(?:[0-9a-fA-F]{2})+$/.test(p), {
      error: (i) =>
        `${JSON.stringify(i.input)} is not hex: after "hex:" give pairs of hex digits (hex:0a0b)`,
    })
    .meta({ description: "Text prefix, or hex:0a0b... for bytes." }),
  handler: Reference.meta({ description: "The exec action that receives the datagram." }),
  servers: z.array(Name).optional(),
  run_as: z.string().min(1).optional().meta({
    description:
      "`user` or `user:group` the handler runs as for this drop (no key proves anything about the " +
      "sender). Default: the handler's run_as, else the unprivileged user `siglatch`, " +
      "else `nobody`. Name `root` to run as root.",
  }),
});

/** Server key rotation (docs/KEYS.md §6). */
export const KeysSchema = z.strictObject({
  rotate_every: Duration.optional().meta({
    description: "Rotate every server's X25519 key this often (once per cluster); the old key " +
      "stays accepted for rotation_grace and replies to it carry the new one.",
  }),
  rotation_grace: Duration.prefault(604800).meta({
    description: "How long the previous server key stays accepted after a rotation (default 7d).",
  }),
  rotate_users_every: Duration.optional().meta({
    description: "Rotate every HMAC user's key this often (once per cluster); the user's next " +
      "request receives the new key, the old one stays accepted until the new one is used or " +
      "rotation_grace ends.",
  }),
});

/** Where state (replay cache, bans, grants, timers) lives. */
export const StateSchema = z.strictObject({
  path: z.string().min(1).default("/var/lib/siglatch")
    .meta({ description: "Directory for the embedded store (Deno KV)." }),
  redis: z.string().regex(
    /^rediss?:\/\/([^@/?#\s]+@)?[^@/?#\s]+(\/\d{1,5})?$/,
    "expected redis://[USER[:PASSWORD]@]HOST:PORT/DB (rediss:// for TLS), no query string",
  ).optional()
    .meta({
      description: "Redis URL for cluster state shared by several daemons: " +
        "`redis://user:password@host:port/db` (ACL user and password; `rediss://` for TLS).",
    }),
  redis_password_file: z.string().min(1).optional().meta({
    description: "File whose first line is the Redis password (secret: mode 0600); " +
      "instead of a password in `redis`.",
  }),
  redis_ca_file: z.string().min(1).optional().meta({
    description: "PEM CA certificate(s) that a `rediss://` server's certificate must chain to " +
      "(default: the system roots).",
  }),
  key_prefix: z.string().default("siglatch:"),
}).superRefine((s, ctx) => {
  if (s.redis_password_file !== undefined && s.redis !== undefined && /:[^@/]*@/.test(s.redis)) {
    ctx.addIssue({
      code: "custom",
      path: ["redis_password_file"],
      message: "the redis URL already carries a password: give it in one place only",
    });
  }
});

/** Admin control surfaces. */
export const AdminSchema = z.strictObject({
  socket: z.string().min(1).default("/run/siglatch/admin.sock"),
  web_listen: ListenText.optional().meta({
    description: "TCP HOST:PORT of the web dashboard and `/metrics` (docs/ADMIN.md). A " +
      "non-loopback address needs tls_cert and tls_key.",
  }),
  token_file: z.string().min(1).optional().meta({
    description: "File holding the dashboard login token (also a Bearer token for " +
      "`/metrics`). Without it `/metrics` is open and the dashboard is off.",
  }),
  tls_cert: z.string().min(1).optional()
    .meta({ description: "PEM certificate chain: the web listener speaks HTTPS." }),
  tls_key: z.string().min(1).optional()
    .meta({ description: "PEM private key of tls_cert." }),
}).superRefine((a, ctx) => {
  if ((a.tls_cert === undefined) !== (a.tls_key === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: [a.tls_cert === undefined ? "tls_cert" : "tls_key"],
      message: "tls_cert and tls_key go together",
    });
  }
  const ip = a.web_listen && parseIp(a.web_listen.host);
  if (ip && !isLoopbackIp(ip) && a.tls_cert === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["web_listen"],
      message: `${a.web_listen!.host} is not a loopback address: the dashboard's token and ` +
        "cookie would cross the network in clear text; set tls_cert and tls_key",
    });
  }
  if (ip && !isLoopbackIp(ip) && a.token_file === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["web_listen"],
      message: "a non-loopback web_listen needs token_file (else /metrics is open to the network)",
    });
  }
});

/** Logging. */
export const LoggingSchema = z.strictObject({
  level: z.enum(["trace", "debug", "info", "warning", "error"]).default("info"),
  format: z.enum(["text", "json"]).default("text"),
  journal: z.enum(["auto", "on", "off"]).default("auto").meta({
    description: "Prefix stderr lines with a syslog priority (<3> error ... <7> debug) that " +
      "journald reads: auto = when started by systemd (JOURNAL_STREAM is set).",
  }),
  file: z.string().optional(),
  drop_log_rate: z.number().nonnegative().default(10)
    .meta({ description: "Rejected-packet log lines per second at most (the rest are counted)." }),
});

/** A 32-bit packet mark: a number (YAML reads `0x20000000` as one) or hex text. */
const MarkValue = z.union([
  z.number().int().min(0).max(0xffffffff),
  z.string().regex(/^0x[0-9a-fA-F]{1,8}$/, "expected a 32-bit value such as 0x20000000")
    .transform((v) => parseInt(v.slice(2), 16)),
]);

/** The daemon's nftables backend for firewall actions (`table inet siglatch`). */
export const FirewallBackendSchema = z.strictObject({
  nft_priority: z.number().int().min(-1000).max(1000).default(-10)
    .meta({ description: "Priority of the `grants` input chain (before a host filter at 0)." }),
  nft_mark: MarkValue.default(0x20000000).meta({
    description: "Mark bit(s) set on granted packets for the host filter to accept " +
      "(`meta mark & M == M accept`); 0 = plain accept, no mark.",
  }),
  guard_ports: z.array(z.strictObject({
    proto: z.enum(["tcp", "udp"]).default("tcp"),
    port: z.number().int().min(1).max(65535),
  })).optional().meta({
    description: "Ports siglatch itself closes to new connections no grant covers " +
      "(for a host filter that accepts them).",
  }),
  remove_on_shutdown: z.boolean().default(false).meta({
    description: "Delete the grants chain and sets on a clean stop (default: keep them, " +
      "so grants keep their kernel timeouts across a restart).",
  }),
});

/** Global limits on actions. */
export const ExecutionSchema = z.strictObject({
  max_concurrent: z.number().int().min(1).max(1024).default(8),
  queue: z.number().int().min(0).max(100_000).default(64),
  grace_period: Duration.prefault(10),
  default_run_as: RunAsSchema.optional().meta({
    description: "Who exec actions and argv destructors without their own `run_as` run as. " +
      "Default: the unprivileged user `siglatch`, else `nobody`. Root only when named " +
      "(`check` warns).",
  }),
  deaddrop_concurrent: z.number().int().min(1).max(1024).default(2)
    .meta({
      description: "Dead-drop handlers running at once (their own pool, apart from users').",
    }),
  deaddrop_queue: z.number().int().min(0).max(100_000).default(16)
    .meta({ description: "Dead drops waiting; more are dropped (a user is never made busy)." }),
});

/** Privilege separation (when `serve` starts as root). */
export const PrivsepSchema = z.strictObject({
  enabled: z.boolean().default(true).meta({
    description: "Started as root, run the part that reads the network as `user`, with narrow " +
      "Deno permissions; only running actions and changing nftables stay root, each request " +
      "checked against the config. Off: one process, as root.",
  }),
  user: z.string().min(1).optional().meta({
    description: "`user` or `user:group` of the network part. Default: `siglatch` if it " +
      "exists, else `nobody`.",
  }),
});

/** A system message delivered to clients inside replies. */
export const MessageSchema = z.strictObject({
  level: z.enum(["notice", "warning"]).default("notice"),
  text: z.string().min(1).max(500),
  expires: Timestamp.optional(),
});

/** One decoy port: a fake service that only wastes a scanner's time (issue 17). */
export const DecoyPortSchema = z.strictObject({
  listen: ListenSpecText.meta({
    description: "HOST:PORT (or a range/list) of the decoy: TCP for banner and tarpit, UDP for " +
      "random; bound before the network part drops root, so ports below 1024 work.",
  }),
  type: z.enum(["banner", "tarpit", "random"]).meta({
    description: "banner: a TCP greeting, then close; tarpit: a TCP connection held open, one " +
      "byte per interval; random: UDP answers of random bytes, never longer than the datagram.",
  }),
  banner: z.string().min(1).max(512).default("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    .meta({ description: "What a banner decoy sends (an SSH- or SMTP-looking greeting)." }),
  interval: Duration.prefault(10)
    .meta({ description: "Tarpit: the wait between two bytes." }),
  max_connections: z.number().int().min(1).max(4096).default(64)
    .meta({ description: "Most connections this decoy holds at once; more are closed at once." }),
});

/** Server decoys (issue 17): fake services on ports no client uses, bounded and rate-limited. */
export const DecoysSchema = z.strictObject({
  ports: z.array(DecoyPortSchema).max(64).default([]),
  rate: z.number().positive().max(100_000).default(50)
    .meta({ description: "Answers per second of all decoys together (beyond: silence)." }),
  per_source_rate: z.number().positive().max(1000).default(1)
    .meta({ description: "Answers per second to one source address (burst: max(1, rate))." }),
  max_sources: z.number().int().min(16).max(1_000_000).default(4096)
    .meta({ description: "Most sources the per-source limit tracks (least recent evicted)." }),
  ban: z.boolean().default(false).meta({
    description: "A decoy hit counts as a proven failure of its source towards a ban. Off by " +
      "default: a forged UDP source could get someone else banned.",
  }),
});

/** The whole configuration file. */
export const ConfigSchema = z.strictObject({
  include: z.union([z.string(), z.array(z.string())]).optional()
    .meta({ description: "Glob(s) of further YAML files merged in, e.g. conf.d/*.yaml." }),
  servers: z.array(ServerSchema).default([]),
  users: z.array(UserSchema).default([]),
  actions: z.array(ActionSchema).default([]),
  deaddrops: z.array(DeadDropSchema).default([]),
  rate_limit: RateLimitSchema.default(() => RateLimitSchema.parse({})),
  limits: DaemonLimitsSchema.default(() => DaemonLimitsSchema.parse({})),
  state: StateSchema.default(() => StateSchema.parse({})),
  keys: KeysSchema.default(() => KeysSchema.parse({})),
  admin: AdminSchema.default(() => AdminSchema.parse({})),
  logging: LoggingSchema.default(() => LoggingSchema.parse({})),
  execution: ExecutionSchema.default(() => ExecutionSchema.parse({})),
  privsep: PrivsepSchema.default(() => PrivsepSchema.parse({})),
  firewall: FirewallBackendSchema.default(() => FirewallBackendSchema.parse({})),
  messages: z.array(MessageSchema).default([]),
  plugins: PluginsSchema.default(() => PluginsSchema.parse({})),
  decoys: DecoysSchema.default(() => DecoysSchema.parse({})),
});

/** The validated configuration. */
export type Config = z.output<typeof ConfigSchema>;
/** One server in a validated configuration. */
export type ServerConfig = Config["servers"][number];
/** One user in a validated configuration. */
export type UserConfig = Config["users"][number];
/** One action in a validated configuration. */
export type ActionConfig = Config["actions"][number];
/** One dead drop in a validated configuration. */
export type DeadDropConfig = Config["deaddrops"][number];
/** The `decoys` section of a validated configuration. */
export type DecoysConfig = Config["decoys"];

/** The JSON Schema (draft 2020-12) editors use to complete and check the YAML. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ConfigSchema, {
    io: "input",
    unrepresentable: "any",
    override: (ctx) => {
      if (!NOT_IMPLEMENTED.has(ctx.zodSchema)) return;
      const description = ctx.jsonSchema.description;
      for (const key of Object.keys(ctx.jsonSchema)) delete ctx.jsonSchema[key];
      Object.assign(ctx.jsonSchema, { description, not: {} });
    },
  }) as Record<string, unknown>;
}

/**
 * How long the daemon-wide replay cache must remember a nonce each way: the largest
 * `limits.clock_skew` of all servers (30 s when there are none), so no server accepts a
 * timestamp whose nonce the cache has already forgotten.
 */
export function replayWindowMs(config: Config): number {
  if (config.servers.length === 0) return 30_000;
  return Math.max(...config.servers.map((s) => s.limits.clock_skew));
}
