/**
 * Client profiles: where a server is and which key to use, in
 * `$XDG_CONFIG_HOME/siglatch/profiles/NAME.yaml` (or any path).
 *
 * @example
 * ```yaml
 * host: 127.0.0.1
 * port: 50000
 * server_public_key: 3q2+7w...base64 of 32 bytes...=
 * user_id: 1
 * hmac_key_file: alice.hmac
 * actions: { ping: 1, echo: 2 }
 * ```
 * @module
 */
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { parseIp } from "../util/ip.ts";

/** The profile file's schema. */
export const ProfileSchema = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  server_public_key: z.string().optional()
    .meta({ description: "Server X25519 public key: base64 of 32 bytes." }),
  server_public_key_file: z.string().optional(),
  server_identity: z.string().optional().meta({
    description: "Pinned server identity: base64 of its 32-byte Ed25519 public key. When " +
      "set, the server key must carry server_key_cert signed by it.",
  }),
  server_key_cert: z.string().optional()
    .meta({ description: "The server key's certificate (base64, 112 bytes; docs/KEYS.md)." }),
  user_id: z.number().int().min(1).max(0xffffffff),
  hmac_key_file: z.string().optional(),
  ed25519_key_file: z.string().optional(),
  insecure: z.boolean().default(false),
  bind: z.string().optional(),
  allow_ip: z.string().refine((v) => parseIp(v) !== undefined, "not an IP address").optional()
    .meta({
      description: "Address a firewall action should open (sealed in the request). Default: " +
        "the public address the server reported in its last cookie reply.",
    }),
  timeout: z.number().positive().default(2),
  retries: z.number().int().min(0).max(10).default(2),
  actions: z.record(z.string(), z.number().int().min(1).max(65535)).default({}),
  knock: z.strictObject({
    ports: z.array(z.number().int().min(1).max(65535)).min(1).max(16).optional(),
    secret_file: z.string().min(1).optional()
      .meta({ description: "The server's knock secret (derived sequences)." }),
    length: z.number().int().min(1).max(8).default(3),
    range: z.tuple([z.number().int().min(1).max(65535), z.number().int().min(1).max(65535)])
      .default([40000, 40999]),
    period: z.number().positive().default(60).meta({ description: "Window, seconds." }),
    proto: z.enum(["udp", "tcp"]).default("udp"),
    gap_ms: z.number().int().min(0).max(5000).default(100),
  }).refine((k) => (k.ports === undefined) !== (k.secret_file === undefined), {
    message: "knock needs ports (static) or secret_file (derived), not both",
  }).optional().meta({ description: "Knock before every request (as the server's knock:)." }),
  port_hopping: z.strictObject({
    secret_file: z.string().min(1),
    range: z.tuple([z.number().int().min(1).max(65535), z.number().int().min(1).max(65535)]),
    period: z.number().positive().default(60).meta({ description: "Window, seconds." }),
  }).optional().meta({
    description: "The server hops (its port_hopping): the port is computed, `port` is ignored.",
  }),
  chaff: z.number().int().min(0).max(32).default(0)
    .meta({ description: "Decoy datagrams sent around every request (send --chaff)." }),
  chaff_jitter_ms: z.number().int().min(0).max(5000).default(200)
    .meta({ description: "Longest random wait before each datagram when sending chaff." }),
  via: z.array(z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    server_public_key: z.string().meta({ description: "The relay's X25519 key: base64." }),
    action: z.union([z.number().int().min(1).max(65535), z.string().min(1)])
      .meta({ description: "Its relay action: id, or a name from `actions`." }),
  })).min(1).max(6).optional().meta({
    description: "Relays to pass, first hop first (docs/RELAY.md); host, port and key above " +
      "are the final server's.",
  }),
});

/** A loaded profile, with key file paths resolved against the profile's directory. */
export type Profile = z.output<typeof ProfileSchema> & { path?: string };

/** Where named profiles live. */
export function profileDir(): string {
  const xdg = Deno.env.get("XDG_CONFIG_HOME");
  const home = Deno.env.get("HOME") ?? "/root";
  return `${xdg && xdg.length > 0 ? xdg : `${home}/.config`}/siglatch/profiles`;
}

/** Turns `--profile` (a path or a bare name) into a file path. */
export function profilePath(nameOrPath: string): string {
  if (nameOrPath.includes("/") || /\.ya?ml$/.test(nameOrPath)) return nameOrPath;
  return `${profileDir()}/${nameOrPath}.yaml`;
}

function resolveAgainst(dir: string, p: string | undefined): string | undefined {
  if (p === undefined || p.startsWith("/")) return p;
  return `${dir}/${p}`;
}

/** Loads and validates a profile; throws an Error with the path and the field at fault. */
export async function loadProfile(nameOrPath: string): Promise<Profile> {
  const path = profilePath(nameOrPath);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "no such file" : String(err);
    throw new Error(`profile ${path}: ${why}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 50 });
  } catch (err) {
    throw new Error(`profile ${path}: not valid YAML: ${err instanceof Error ? err.message : err}`);
  }
  const parsed = ProfileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const first = parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`);
    throw new Error(`profile ${path}: ${first.join("; ")}`);
  }
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  const p = parsed.data;
  return {
    ...p,
    path,
    server_public_key_file: resolveAgainst(dir, p.server_public_key_file),
    hmac_key_file: resolveAgainst(dir, p.hmac_key_file),
    ed25519_key_file: resolveAgainst(dir, p.ed25519_key_file),
    knock: p.knock && { ...p.knock, secret_file: resolveAgainst(dir, p.knock.secret_file) },
    port_hopping: p.port_hopping &&
      { ...p.port_hopping, secret_file: resolveAgainst(dir, p.port_hopping.secret_file)! },
  };
}
