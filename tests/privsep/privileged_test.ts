/**
 * The privileged part as a compromised network part would use it: every request is
 * checked against the config the privileged part loaded itself.
 */
import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { loadConfig } from "../../src/config/load.ts";
import { setupLogging, tapLogs } from "../../src/util/log.ts";
import { PrivilegedOps } from "../../src/privsep/privileged.ts";
import { decodeExecResult } from "../../src/privsep/codec.ts";
import { makeFixture } from "../_helpers/daemon.ts";

async function ops(extra: Parameters<typeof makeFixture>[0] = {}) {
  const fx = await makeFixture({
    scripts: { "hello.sh": 'echo "hello $SIGLATCH_USER"' },
    actions: [
      { id: 10, name: "hello", type: "exec", command: ["$DIR/hello.sh"], run_as: "nobody" },
      { id: 11, name: "secret", type: "exec", command: ["$DIR/hello.sh"], run_as: "nobody" },
      {
        id: 12,
        name: "ssh",
        type: "firewall",
        firewall: { ports: [{ proto: "tcp", port: 22 }], duration: "5m" },
      },
    ],
    aliceActions: ["hello", "ssh"],
    ...extra,
  });
  const loaded = await loadConfig(fx.config);
  if (!loaded.ok) throw new Error("config");
  return { fx, ops: await PrivilegedOps.load(fx.config, loaded.config) };
}

const run = (args: Record<string, unknown>) => ({ kind: "action", env: {}, stdin: "", ...args });

Deno.test("privileged part: a compromised network part cannot run what the config does not allow", async () => {
  setupLogging({ level: "info", format: "json" });
  const logged: LogRecord[] = [];
  const untap = tapLogs((r) => logged.push(r));
  const { fx, ops: p } = await ops();
  try {
    // Allowed: alice runs hello; argv comes from the config, whatever the request says.
    const ok = decodeExecResult(
      await p.handle("run", run({ actionId: 10, userId: 1, argv: ["/bin/sh", "-c", "id"] })),
    );
    assert.equal(new TextDecoder().decode(ok.stdout), "hello alice\n");

    const refusals: [string, unknown, RegExp][] = [
      ["run", run({ actionId: 999, userId: 1 }), /no action 999/],
      ["run", run({ actionId: 11, userId: 1 }), /alice may not run secret/],
      ["run", run({ actionId: 12, userId: 1 }), /not an exec action/],
      ["run", run({ actionId: 10, userId: 77 }), /no user 77/],
      ["run", run({ actionId: 10, userId: 1, env: { LD_PRELOAD: "/tmp/x.so" } }), /not allowed/],
      [
        "run",
        run({ actionId: 10, userId: 1, env: { SIGLATCH_SOURCE_IP: "1.2.3.4; rm" } }),
        /malformed/,
      ],
      ["run", run({ kind: "deaddrop", actionId: 10, drop: "none" }), /no dead drop/],
      ["run", run({ kind: "shell", actionId: 10 }), /malformed request: kind/],
      ["run", { actionId: "10" }, /malformed request/],
      [
        "grants.grant",
        { address: "10.0.0.1", ports: [{ proto: "tcp", port: 22 }], ttlMs: 1 },
        /not set up/,
      ],
      [
        "grants.grant",
        { address: "10.0.0.1", ports: [{ proto: "tcp", port: 1 }], ttlMs: 1000 },
        /not a port of any firewall action/,
      ],
      ["grants.grant", {
        address: "10.0.0.1",
        ports: [{ proto: "tcp", port: 22 }],
        ttlMs: 86_400_000,
      }, /malformed request: ttl/],
      ["bans.ban", { source: "fe80::1%x } ; flush ruleset", until: null }, /not set up|off/],
      ["nft", { script: "flush ruleset" }, /unknown operation/],
    ];
    for (const [op, args, re] of refusals) {
      await assert.rejects(p.handle(op, args), re, `${op} ${JSON.stringify(args)}`);
    }
    const lines = logged.filter((r) => String(r.message[0]).startsWith("refused "));
    assert.equal(lines.length, refusals.length, "every refusal is logged");
  } finally {
    untap();
    await p.stop();
    await fx.cleanup();
  }
});

Deno.test("privileged part: a malformed grant address never reaches nft", async () => {
  const { fx, ops: p } = await ops();
  try {
    // Without a firewall backend set up nothing can reach nft at all; with one (netns e2e
    // tests), the leaf refuses non-canonical text. Here: the request shape is checked first.
    await assert.rejects(
      p.handle("grants.grant", {
        address: "x".repeat(100),
        ports: [{ proto: "tcp", port: 22 }],
        ttlMs: 1000,
      }),
      /malformed request: address/,
    );
  } finally {
    await p.stop();
    await fx.cleanup();
  }
});
