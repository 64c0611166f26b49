/**
 * Issue 15, in process (`deno bench bench/session_bench.ts`): what sessions add to a
 * first-contact datagram (the pipeline's routing test, `SessionPath.claims`, with no session
 * open and with 4,096 open) against what a session command costs instead of an X25519 (seal and
 * open of a session datagram, the replay window).
 * @module
 */
import { randomBytes } from "node:crypto";
import { SessionTable } from "../src/daemon/session_table.ts";
import { sessionIdOf } from "../src/wire/session.ts";
import {
  deriveSessionKeys,
  encodeCommand,
  openSession,
  sealSession,
  SessionC2S,
} from "../src/wire/session.ts";
import { ReplayWindow } from "../src/wire/replay_window.ts";

import { x25519 } from "../src/crypto/keys.ts";
import { generateKeyPairSync } from "node:crypto";

const limits = {
  max: 100_000,
  per_user: 100_000,
  idle: 60_000,
  lifetime: 3_600_000,
  max_messages: 1e6,
};
const empty = new SessionTable(limits, Date.now);
const full = new SessionTable(limits, Date.now);
const keys = deriveSessionKeys(new Uint8Array(32).fill(1), 1n);
for (let i = 0; i < 4096; i++) full.open(1, "main", "127.0.0.1", 40000 + i, () => keys);
const request = new Uint8Array(randomBytes(1200));

// The pipeline's test, as SessionPath.claims does it.
function claims(t: SessionTable, d: Uint8Array): boolean {
  if (t.size === 0) return false;
  const id = sessionIdOf(d);
  return id !== undefined && t.has(id);
}

Deno.bench("first contact: session routing test, no session open", { group: "route" }, () => {
  claims(empty, request);
});
Deno.bench("first contact: session routing test, 4,096 sessions open", { group: "route" }, () => {
  claims(full, request);
});

const inner = encodeCommand({
  kind: SessionC2S.Command,
  cmd: 1,
  actionId: 1,
  seq: 0,
  payload: new Uint8Array(),
});
let counter = 0;
const sealed = sealSession(keys.c2s, 1n, 0, inner);
Deno.bench("session: seal a command (client)", { group: "session" }, () => {
  sealSession(keys.c2s, 1n, counter++, inner);
});
Deno.bench("session: open a command (server AEAD)", { group: "session" }, () => {
  openSession(keys.c2s, sealed);
});
const w = new ReplayWindow();
let c = 0;
Deno.bench("session: replay window check + accept", { group: "session" }, () => {
  w.accept(c++);
});
const a = generateKeyPairSync("x25519");
const b = generateKeyPairSync("x25519");
const pa = a.privateKey;
const pb = b.publicKey;
Deno.bench("what a session saves per command: one X25519", { group: "session" }, () => {
  x25519(pa, pb);
});
