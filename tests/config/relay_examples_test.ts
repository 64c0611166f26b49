/**
 * config/examples/relay-a.yaml, relay-b.yaml (a relay pair: A forwards to B) and forward.yaml
 * pass `siglatch check --strict` (copied with the demo keys at mode 0600, as after chmod 600),
 * hold the action types they show, and fit together: A's relay names B's address and B's key,
 * and B lets in only A's address.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { createPublicKey } from "node:crypto";
import { ROOT, runSiglatch, withTempDir } from "./_fixtures.ts";

const FILES = ["relay-a.yaml", "relay-b.yaml", "forward.yaml"];

async function copyTree(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/examples`);
  await Deno.mkdir(`${dir}/example-keys`);
  for (const f of FILES) {
    await Deno.copyFile(`${ROOT}config/examples/${f}`, `${dir}/examples/${f}`);
  }
  for await (const e of Deno.readDir(`${ROOT}config/example-keys`)) {
    await Deno.copyFile(`${ROOT}config/example-keys/${e.name}`, `${dir}/example-keys/${e.name}`);
    await Deno.chmod(`${dir}/example-keys/${e.name}`, 0o600);
  }
}

function rawX25519(pem: string): string {
  const der = createPublicKey(pem).export({ type: "spki", format: "der" });
  return new Uint8Array(der.subarray(der.length - 32)).toBase64();
}

Deno.test("relay and forward examples: siglatch check --strict passes each", async () => {
  await withTempDir(async (dir) => {
    await copyTree(dir);
    for (const f of FILES) {
      const r = await runSiglatch(["check", "--strict", `${dir}/examples/${f}`]);
      assert.equal(r.code, 0, `${f}: ${r.stdout}${r.stderr}`);
    }
    // The check can fail: a relay that allows no hop at all is refused.
    const broken = (await Deno.readTextFile(`${dir}/examples/relay-a.yaml`))
      .replace("max_hops: 1", "max_hops: 0");
    await Deno.writeTextFile(`${dir}/examples/broken.yaml`, broken);
    const r = await runSiglatch(["check", "--strict", `${dir}/examples/broken.yaml`]);
    assert.notEqual(r.code, 0, r.stdout + r.stderr);
  });
});

Deno.test("relay examples fit together: A relays to B's address and key, B admits only A", async () => {
  type Cfg = {
    servers: { listen: string[]; key_file: string; allow_cidrs?: string[] }[];
    actions: { type: string; relay?: { to: string; server_public_key: string } }[];
  };
  const read = async (f: string) =>
    parse(await Deno.readTextFile(`${ROOT}config/examples/${f}`)) as Cfg;
  const a = await read("relay-a.yaml");
  const b = await read("relay-b.yaml");
  const fwd = await read("forward.yaml");
  const relay = a.actions.find((x) => x.type === "relay")!.relay!;
  assert.equal(relay.to, b.servers[0].listen[0]);
  const bPub = await Deno.readTextFile(`${ROOT}config/example-keys/relay-b.x25519.pub`);
  assert.equal(relay.server_public_key, rawX25519(bPub));
  assert.notEqual(a.servers[0].key_file, b.servers[0].key_file, "two keys: one would be a loop");
  assert.deepEqual(b.servers[0].allow_cidrs, ["10.0.0.4/32"]);
  assert.ok(fwd.actions.some((x) => x.type === "forward"));
  // The profile in A's header names B's key and A's key, as a client needs them.
  const text = await Deno.readTextFile(`${ROOT}config/examples/relay-a.yaml`);
  const aPub = await Deno.readTextFile(`${ROOT}config/example-keys/server.x25519.pub`);
  assert.match(text, new RegExp(`server_public_key: ${rawX25519(bPub).replace(/[+]/g, "\\+")}\n`));
  assert.ok(text.includes(`server_public_key: ${rawX25519(aPub)}, action: to-b`));
});
