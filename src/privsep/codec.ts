/**
 * What crosses the privsep channel, as JSON, and the strict readers of each message: every
 * field checked for type and range before use (the privileged part treats the network part
 * as untrusted).
 * @module
 */
import type { ExecResult } from "../actions/exec.ts";
import type { RunSpec } from "../actions/runner.ts";
import type { KeyMaterial } from "../daemon/runtime.ts";
import type { PortSpec } from "../nft/grants.ts";

/** Thrown for a malformed message. */
export class BadMessage extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(`malformed request: ${message}`);
    this.name = "BadMessage";
  }
}

type Json = Record<string, unknown>;

/** The argument object of a request. */
export function record(v: unknown, what = "arguments"): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new BadMessage(what);
  return v as Json;
}

/** An integer in [min, max]. */
export function int(v: unknown, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new BadMessage(what);
  }
  return v;
}

/** A string of at most `max` characters. */
export function str(v: unknown, what: string, max = 256): string {
  if (typeof v !== "string" || v.length > max) throw new BadMessage(what);
  return v;
}

/** Bytes sent as base64 (at most `max` bytes). */
export function bytes(v: unknown, what: string, max: number): Uint8Array {
  const text = str(v, what, Math.ceil(max / 3) * 4 + 4);
  try {
    return Uint8Array.fromBase64(text);
  } catch {
    throw new BadMessage(what);
  }
}

/** A list of ports. */
export function ports(v: unknown): PortSpec[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 64) throw new BadMessage("ports");
  return v.map((p) => {
    const r = record(p, "port");
    if (r.proto !== "tcp" && r.proto !== "udp") throw new BadMessage("port protocol");
    return { proto: r.proto, port: int(r.port, "port", 1, 65535) };
  });
}

/** KeyMaterial → JSON. */
export function encodeKeys(m: KeyMaterial): Json {
  const servers: Json = {};
  for (const [name, k] of Object.entries(m.servers)) {
    servers[name] = {
      priv: k.x25519Private.toBase64(),
      pub: k.x25519Public.toBase64(),
      ...(k.identitySeed ? { id: k.identitySeed.toBase64() } : {}),
    };
  }
  const users: Json = {};
  for (const [id, v] of Object.entries(m.users)) {
    users[id] = { hmac: v.hmacKey?.toBase64(), ed: v.ed25519Public?.toBase64() };
  }
  return { servers, users };
}

/** JSON → KeyMaterial (the network part reads what the privileged part sent). */
export function decodeKeys(v: unknown): KeyMaterial {
  const r = record(v, "keys");
  const out: KeyMaterial = { servers: {}, users: {} };
  for (const [name, k] of Object.entries(record(r.servers, "servers"))) {
    const kr = record(k, "server key");
    out.servers[name] = {
      x25519Private: bytes(kr.priv, "server key", 32),
      x25519Public: bytes(kr.pub, "server key", 32),
    };
    if (kr.id !== undefined) out.servers[name].identitySeed = bytes(kr.id, "identity key", 32);
  }
  for (const [id, u] of Object.entries(record(r.users, "users"))) {
    const ur = record(u, "user key");
    out.users[Number(id)] = {
      hmacKey: ur.hmac === undefined ? undefined : bytes(ur.hmac, "hmac key", 64),
      ed25519Public: ur.ed === undefined ? undefined : bytes(ur.ed, "ed25519 key", 32),
    };
  }
  return out;
}

/** RunSpec → JSON. */
export function encodeRunSpec(spec: RunSpec): Json {
  return { ...spec, stdin: spec.stdin.toBase64() };
}

/** JSON → RunSpec (stdin at most 1 MiB, at most 16 environment entries). */
export function decodeRunSpec(v: unknown): RunSpec {
  const r = record(v);
  if (r.kind !== "action" && r.kind !== "destructor" && r.kind !== "deaddrop") {
    throw new BadMessage("kind");
  }
  const env: Record<string, string> = {};
  const envIn = record(r.env ?? {}, "env");
  const names = Object.keys(envIn);
  if (names.length > 16) throw new BadMessage("env");
  for (const name of names) env[str(name, "env name", 64)] = str(envIn[name], "env value", 4096);
  return {
    kind: r.kind,
    actionId: int(r.actionId, "action id", 1, 65535),
    userId: r.userId === undefined ? undefined : int(r.userId, "user id", 1, 0xffffffff),
    drop: r.drop === undefined ? undefined : str(r.drop, "drop", 64),
    env,
    stdin: bytes(r.stdin ?? "", "stdin", 1024 * 1024),
  };
}

/** ExecResult → JSON. */
export function encodeExecResult(r: ExecResult): Json {
  return { ...r, stdout: r.stdout.toBase64(), stderr: r.stderr.toBase64() };
}

/** JSON → ExecResult. */
export function decodeExecResult(v: unknown): ExecResult {
  const r = record(v, "result");
  return {
    exitCode: int(r.exitCode, "exit code", -1, 255),
    signal: r.signal === undefined ? undefined : str(r.signal, "signal", 32),
    stdout: bytes(r.stdout, "stdout", 32 * 1024 * 1024),
    stderr: bytes(r.stderr, "stderr", 32 * 1024 * 1024),
    truncated: r.truncated === true,
    timedOut: r.timedOut === true,
    durationMs: typeof r.durationMs === "number" ? r.durationMs : 0,
    spawnError: r.spawnError === undefined ? undefined : str(r.spawnError, "spawn error", 4096),
  };
}
