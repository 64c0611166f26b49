/**
 * `check` finds decoy ports that a start could not bind or that nothing could reach: a UDP
 * decoy on a server's listen port (also through a wildcard) or in its hopping range, a decoy
 * on a knock port of the same protocol, two decoys on one socket. Each is an error at the
 * decoy's `listen`, naming the other field; decoys that only share a port number across
 * protocols or hosts pass.
 */
import assert from "node:assert/strict";
import { loadConfigText } from "../../src/config/load.ts";
import { runSiglatch, withTempDir, writeKey } from "./_fixtures.ts";

const config = (server: string, decoys: string) =>
  `servers:\n  - name: a\n    listen: ["127.0.0.1:7000", "127.0.0.1:7100-7102"]\n` +
  `    key_file: k.pem\n${server}decoys:\n  ports:\n${decoys}`;

async function conflicts(server: string, decoys: string) {
  const res = await loadConfigText(config(server, decoys), "/tmp/x.yaml");
  return res.findings.filter((f) => f.code === "lint.decoy_conflict");
}

Deno.test("check: a UDP decoy on a server's listen port is an error at the decoy", async () => {
  const [f, ...more] = await conflicts("", `    - { listen: "127.0.0.1:7101", type: random }\n`);
  assert.ok(f);
  assert.equal(more.length, 0);
  assert.equal(f.severity, "error");
  assert.equal(f.path, "decoys.ports[0].listen");
  assert.match(f.message, /^udp 127\.0\.0\.1:7101 is the listen port of servers\[0\]\.listen\[1\]/);
  const wild = await conflicts("", `    - { listen: "0.0.0.0:7000", type: random }\n`);
  assert.equal(wild.length, 1, "a wildcard decoy takes the server's port too");
  assert.match(wild[0].message, /servers\[0\]\.listen\[0\]/);
});

Deno.test("check: decoys that do not take a server's socket pass", async () => {
  const ok = await conflicts(
    "",
    `    - { listen: "127.0.0.1:7000", type: banner }\n` + // TCP: another protocol
      `    - { listen: "127.0.0.2:7000", type: random }\n` + // another host
      `    - { listen: "[::1]:7000", type: random }\n`, // another family
  );
  assert.deepEqual(ok, []);
});

Deno.test("check: hopping ranges, knock ports and twin decoys are errors", async () => {
  const hop = await conflicts(
    `    port_hopping: { secret_file: h.key, range: [30000, 30999], period: 30s }\n`,
    `    - { listen: "127.0.0.1:30500", type: random }\n`,
  );
  assert.equal(hop.length, 1);
  assert.match(hop[0].message, /servers\[0\]\.port_hopping\.range/);
  const knock = await conflicts(
    `    knock: { ports: [7003, 7001, 7002], proto: tcp }\n`,
    `    - { listen: "127.0.0.1:7001", type: tarpit }\n` +
      `    - { listen: "127.0.0.1:7002", type: random }\n`, // UDP: the TCP knock ignores it
  );
  assert.equal(knock.length, 1, JSON.stringify(knock));
  assert.equal(knock[0].path, "decoys.ports[0].listen");
  assert.match(
    knock[0].message,
    /tcp 127\.0\.0\.1:7001 is a knock port of servers\[0\]\.knock\.ports/,
  );
  const twins = await conflicts(
    "",
    `    - { listen: "127.0.0.1:22", type: banner }\n` +
      `    - { listen: "0.0.0.0:22", type: tarpit }\n`,
  );
  assert.equal(twins.length, 1);
  assert.equal(twins[0].path, "decoys.ports[1].listen");
  assert.match(twins[0].message, /already a decoy at decoys\.ports\[0\]\.listen/);
});

Deno.test("check (CLI): the collision fails the check with the field path and line", async () => {
  await withTempDir(async (dir) => {
    await writeKey(`${dir}/k.pem`);
    await Deno.writeTextFile(
      `${dir}/c.yaml`,
      config("", `    - { listen: "127.0.0.1:7000", type: random }\n`),
    );
    const run = await runSiglatch(["check", `${dir}/c.yaml`]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(
      run.stdout,
      /c\.yaml:7:17: decoys\.ports\[0\]\.listen: udp 127\.0\.0\.1:7000 is the listen port of servers\[0\]\.listen\[0\] at .*c\.yaml:3:\d+/,
    );
  });
});
