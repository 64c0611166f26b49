/**
 * Cost of each stage of the datagram pipeline, in process, on the real modules
 * (`deno bench bench/pipeline_bench.ts`): source gate (rate-limit decision) → prefilter
 * (size + mac1) → open (HPKE decrypt) → authenticate (HMAC) → replay check → policy →
 * builtin dispatch → sealed reply, and the whole synchronous path for one valid ping.
 * Compare with the primitives in `floor_bench.ts`.
 * @module
 */
import { randomBytes } from "node:crypto";
import { loadConfig } from "../src/config/load.ts";
import { buildRuntime } from "../src/daemon/runtime.ts";
import { decidePolicy } from "../src/daemon/policy.ts";
import { runBuiltin } from "../src/actions/builtin.ts";
import { encodeReplyBody } from "../src/wire/reply_body.ts";
import { SourceGate } from "../src/policy/ratelimit.ts";
import { RateLimitSchema } from "../src/config/schema.ts";
import { parseIp } from "../src/util/ip.ts";
import {
  maxReplyBody,
  ReplayGuard,
  ReplyStatus,
  sealRequest,
  type UserVerifier,
} from "../src/wire/mod.ts";
import { authenticate, verifyAuth } from "../src/wire/auth.ts";
import { makeFixture } from "../tests/_helpers/daemon.ts";

const fx = await makeFixture();
const loaded = await loadConfig(fx.config);
if (!loaded.ok) throw new Error(loaded.findings.map((f) => f.message).join("\n"));
const runtime = await buildRuntime(loaded.config);
await fx.cleanup();
const server = runtime.servers.get("main")!;
const opener = server.opener;
const alice = runtime.users.get(1)!;
const lookup = (id: number): UserVerifier | undefined => runtime.users.get(id)?.verifier;
const nobody = (): UserVerifier | undefined => undefined;
const auth = { kind: "hmac", key: fx.aliceKey } as const;
const ping = (): Uint8Array =>
  sealRequest(fx.serverPublic, auth, { type: "request", userId: 1, actionId: 1 }).datagram;
const valid = ping();
const garbage256 = new Uint8Array(randomBytes(256));
const garbage1200 = new Uint8Array(randomBytes(1200));
const ip = parseIp("127.0.0.1")!;
const check = opener.open(valid, lookup);
if (!check.ok) throw new Error(`fixture request did not open: ${check.reason}`);

// Source gate (rate-limit decision) for a known source, with a generous rate so it admits.
const gate = new SourceGate(RateLimitSchema.parse({ per_source_rate: 1e9, per_source_burst: 1e9 }));
let now = Date.now();
Deno.bench("gate: admit, known source", { group: "stage" }, () => {
  gate.admit(ip, now++);
});
Deno.bench("prefilter: 256 B garbage (size + mac1)", { group: "stage" }, () => {
  opener.prefilter(garbage256);
});
Deno.bench("prefilter: 1,200 B garbage (size + mac1)", { group: "stage" }, () => {
  opener.prefilter(garbage1200);
});
Deno.bench("prefilter: valid request", { group: "stage" }, () => {
  opener.prefilter(valid);
});
Deno.bench("open: decrypt + parse, user unknown (no auth)", { group: "stage" }, () => {
  opener.open(valid, nobody);
});
Deno.bench("open: decrypt + parse + HMAC auth + time window", {
  group: "stage",
  baseline: true,
}, () => {
  opener.open(valid, lookup);
});

// Authenticate alone: one HMAC-SHA256 verify over a request-sized signed part.
const signed = new Uint8Array(randomBytes(60));
const parts = [
  new TextEncoder().encode("ctx"),
  valid.subarray(0, 32),
  fx.serverPublic,
  signed,
] as const;
const tag = authenticate(auth, parts);
Deno.bench("authenticate: HMAC-SHA256 verify", { group: "stage" }, () => {
  verifyAuth("hmac", alice.verifier, parts, tag);
});

const replay = new ReplayGuard({ skewMs: 30_000, maxEntries: 1_000_000 });
const nonces = Array.from({ length: 1 << 16 }, () => new Uint8Array(randomBytes(16)));
let ni = 0;
Deno.bench("replay: check + add a fresh nonce", { group: "stage" }, () => {
  const n = nonces[ni++ & 0xffff];
  const t = Date.now();
  if (replay.check(n, t) === null) replay.add(n, t);
});

const payload = new Uint8Array();
Deno.bench("policy: decidePolicy (allowed)", { group: "stage" }, () => {
  decidePolicy({ runtime, server, user: alice, actionId: 1, ip, payload, now: Date.now() });
});
Deno.bench("dispatch: runBuiltin ping", { group: "stage" }, () => {
  runBuiltin("ping", { runtime, user: alice, messages: [] });
});
Deno.bench("reply: encode body + seal", { group: "stage" }, () => {
  const body = encodeReplyBody({ data: "pong" }, undefined, maxReplyBody(valid.length)).bytes;
  check.replier.seal({
    status: ReplyStatus.Ok,
    exitCode: 0,
    serverTime: Date.now(),
    requestId: check.msg.nonce,
    seq: 0,
    final: true,
    truncated: false,
    body,
  });
});

// The whole synchronous path for one valid ping (fresh requests, sealed before timing).
const fresh = Array.from({ length: 4096 }, ping);
const fullReplay = new ReplayGuard({ skewMs: 30_000, maxEntries: 1_000_000 });
let fi = 0;
Deno.bench("all: gate → open → replay → policy → builtin → reply", { group: "all" }, () => {
  const d = fresh[fi++ % fresh.length];
  gate.admit(ip, now++);
  const o = opener.open(d, lookup);
  if (!o.ok) throw new Error(o.reason);
  // Cycling through 4,096 requests repeats nonces: check them, count the work either way.
  fullReplay.check(o.msg.nonce, o.msg.timestamp);
  fullReplay.add(o.msg.nonce, o.msg.timestamp);
  decidePolicy({ runtime, server, user: alice, actionId: 1, ip, payload, now: Date.now() });
  const data = runBuiltin("ping", { runtime, user: alice, messages: [] });
  o.replier.seal({
    status: ReplyStatus.Ok,
    exitCode: 0,
    serverTime: Date.now(),
    requestId: o.msg.nonce,
    seq: 0,
    final: true,
    truncated: false,
    body: encodeReplyBody({ data }, undefined, maxReplyBody(d.length)).bytes,
  });
});
Deno.bench("client: sealRequest (not on the server path)", { group: "all" }, () => {
  ping();
});
