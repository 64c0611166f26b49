/**
 * runExec with real children: the whole tree dies at the timeout, also a child that left the
 * process group with `setsid` and double-forked; stdin, stdout, stderr, exit codes and the
 * cleared environment are the same in every containment mode.
 */
import assert from "node:assert/strict";
import { type Containment, launch, probeContainment } from "../../src/actions/contain.ts";
import { runExec } from "../../src/actions/exec.ts";
import { resolveRunAs } from "../../src/util/sysdb.ts";

const root = Deno.uid() === 0;
const nobody = resolveRunAs("nobody");
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A world-writable temp dir with `escape.sh` and `hang.sh` (the double fork). */
async function escapeFixture(marker: string) {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-exec-" });
  await Deno.chmod(dir, 0o777);
  // The grandchild: writes its pid as the host sees it (/proc is the host's), then sleeps
  // with the marker in its argv, stdio away from our pipes.
  await Deno.writeTextFile(
    `${dir}/escape.sh`,
    `#!/bin/sh\nread -r p _ < /proc/self/stat\necho "$p" > "$1.tmp" && mv "$1.tmp" "$1"\n` +
      `exec sleep ${marker} </dev/null >/dev/null 2>&1\n`,
    { mode: 0o755 },
  );
  // The action: a new session whose shell backgrounds the grandchild and exits (double fork),
  // waits until the grandchild is up, then hangs past the timeout.
  await Deno.writeTextFile(
    `${dir}/hang.sh`,
    `#!/bin/sh\nsetsid sh -c '"$0" "$1" &' "${dir}/escape.sh" "${dir}/pid"\n` +
      `while [ ! -s "${dir}/pid" ]; do sleep 0.05; done\nsleep ${marker}\n`,
    { mode: 0o755 },
  );
  await Deno.chmod(`${dir}/escape.sh`, 0o755);
  await Deno.chmod(`${dir}/hang.sh`, 0o755);
  return dir;
}

/** Is `pid` still our marked sleep? (`ps`: Deno refuses to read /proc/PID without -A.) */
function alive(pid: number, marker: string): boolean {
  const out = new Deno.Command("ps", { args: ["-o", "args=", "-p", String(pid)], stdout: "piped" })
    .outputSync();
  return dec(out.stdout).includes(marker);
}

Deno.test("a child that calls setsid and double-forks dies at the timeout with its action", {
  ignore: !root || typeof nobody === "string",
}, async () => {
  const marker = `${30 + Math.floor(Math.random() * 1e5) / 1e6}`;
  const dir = await escapeFixture(marker);
  try {
    const ids = nobody as { uid: number; gid: number };
    const res = await runExec({
      argv: [`${dir}/hang.sh`],
      env: {},
      uid: ids.uid,
      gid: ids.gid,
      timeoutMs: 1000,
      outputCap: 1024,
    });
    assert.ok(res.timedOut, JSON.stringify({ ...res, stderr: dec(res.stderr) }));
    const pid = Number(Deno.readTextFileSync(`${dir}/pid`).trim());
    assert.ok(pid > 1, "the grandchild wrote its pid");
    const survived = alive(pid, marker);
    if (survived) Deno.kill(pid, "SIGKILL");
    assert.equal(survived, false, `grandchild ${pid} outlived its action`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pidns: a first process that itself calls setsid dies at the timeout", {
  ignore: !root || typeof nobody === "string",
}, async () => {
  // The namespace's first process leaves unshare's process group (no fork: it is not a group
  // leader), so neither the group signal nor a parent-death signal reaches it.
  const marker = `${30 + Math.floor(Math.random() * 1e5) / 1e6}`;
  const dir = await Deno.makeTempDir({ prefix: "siglatch-exec-" });
  await Deno.chmod(dir, 0o777);
  try {
    const ids = nobody as { uid: number; gid: number };
    const res = await runExec({
      argv: [
        "/bin/sh",
        "-c",
        `read -r p _ < /proc/self/stat; echo "$p" > ${dir}/pid; exec setsid sleep ${marker}`,
      ],
      env: {},
      uid: ids.uid,
      gid: ids.gid,
      timeoutMs: 1000,
      killGraceMs: 300,
      outputCap: 1024,
      containment: "pidns",
    });
    assert.ok(res.timedOut, JSON.stringify({ ...res, stderr: dec(res.stderr) }));
    const pid = Number(Deno.readTextFileSync(`${dir}/pid`).trim());
    assert.ok(pid > 1, "the first process wrote its host pid");
    const survived = alive(pid, marker);
    if (survived) Deno.kill(pid, "SIGKILL");
    assert.equal(survived, false, `namespace init ${pid} outlived its action`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pidns: what the first process left running is gone when the run returns", {
  ignore: !root,
}, async () => {
  // No timeout and no group signal after a normal exit in this mode: the namespace dies with
  // its first process, before `unshare` (its parent) can return.
  const marker = `${30 + Math.floor(Math.random() * 1e5) / 1e6}`;
  const dir = await Deno.makeTempDir({ prefix: "siglatch-exec-" });
  try {
    const child = `read -r p _ < /proc/self/stat; echo "$p" > ${dir}/pid.tmp && ` +
      `mv ${dir}/pid.tmp ${dir}/pid; exec sleep ${marker}`;
    const res = await runExec({
      argv: [
        "/bin/sh",
        "-c",
        `sh -c '${child}' </dev/null >/dev/null 2>&1 &\n` +
        `while [ ! -s ${dir}/pid ]; do sleep 0.01; done`,
      ],
      env: {},
      timeoutMs: 10_000,
      outputCap: 1024,
      containment: "pidns",
    });
    assert.equal(res.exitCode, 0, dec(res.stderr));
    assert.equal(res.timedOut, false);
    const pid = Number(Deno.readTextFileSync(`${dir}/pid`).trim());
    assert.ok(pid > 1, "the background child wrote its host pid");
    const survived = alive(pid, marker);
    if (survived) Deno.kill(pid, "SIGKILL");
    assert.equal(survived, false, `background child ${pid} outlived its run`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pidns: the run leads its own session (unshare is its leader), apart from ours", {
  ignore: !root,
}, async () => {
  const res = await runExec({
    argv: ["/bin/sh", "-c", 'read -r p c s pp pg sid _ < /proc/self/stat; echo "$pp $pg $sid"'],
    env: {},
    timeoutMs: 10_000,
    outputCap: 1024,
    containment: "pidns",
  });
  assert.equal(res.exitCode, 0, dec(res.stderr));
  const [ppid, pgrp, sid] = dec(res.stdout).trim().split(" ").map(Number);
  // The namespace's first process: its parent (unshare) leads both its group and its session,
  // so a group signal reaches the whole run and none of ours (a terminal's Ctrl-C) does.
  assert.ok(ppid > 1);
  assert.equal(pgrp, ppid);
  assert.equal(sid, ppid);
  const ours = new Deno.Command("ps", {
    args: ["-o", "sid=", "-p", String(Deno.pid)],
    stdout: "piped",
  })
    .outputSync();
  assert.notEqual(sid, Number(dec(ours.stdout).trim()));
});

const MODES: Containment[] = root ? ["group", "pidns"] : ["group"];

for (const mode of MODES) {
  Deno.test(`${mode}: stdin, stdout, stderr, exit code and a cleared environment as always`, async () => {
    const res = await runExec({
      argv: ["/bin/sh", "-c", 'cat; echo "e=$FOO:$SIGLATCH_X" >&2; id -u >&2; exit 3'],
      env: { SIGLATCH_X: "x" },
      stdin: new TextEncoder().encode("payload"),
      ...(typeof nobody === "string" || !root ? {} : { uid: nobody.uid, gid: nobody.gid }),
      timeoutMs: 10_000,
      outputCap: 1024,
      containment: mode,
    });
    assert.equal(res.spawnError, undefined);
    assert.equal(res.exitCode, 3);
    assert.equal(dec(res.stdout), "payload");
    const [env, uid] = dec(res.stderr).trim().split("\n");
    assert.equal(env, "e=:x", "nothing inherited, SIGLATCH_* passed");
    if (root && typeof nobody !== "string") assert.equal(uid, String(nobody.uid), "ran as nobody");
    assert.equal(res.timedOut, false);
  });

  Deno.test(`${mode}: output is capped and a missing program is exit 127, as always`, async () => {
    const big = await runExec({
      argv: ["/bin/sh", "-c", "head -c 5000 /dev/zero"],
      env: {},
      timeoutMs: 10_000,
      outputCap: 100,
      containment: mode,
    });
    assert.equal(big.stdout.length, 100);
    assert.ok(big.truncated);
    assert.equal(big.exitCode, 0);
    const missing = await runExec({
      argv: ["/nonexistent/program"],
      env: {},
      timeoutMs: 10_000,
      outputCap: 100,
      containment: mode,
    });
    assert.equal(missing.exitCode, 127);
  });
}

Deno.test("probe: no cgroup v2 falls back to a PID namespace as root, to the group otherwise", async () => {
  const empty = await Deno.makeTempDir();
  try {
    const user = await probeContainment({ cgroupRoot: empty, root: false });
    assert.equal(user.mode, "group");
    assert.match(user.reasons.join(), /not root/);
    if (root) {
      const r = await probeContainment({ cgroupRoot: empty });
      assert.equal(r.mode, "pidns", r.reasons.join("; "));
      assert.match(r.reasons.join(), /no cgroup v2 at /);
    }
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("launch: unshare drops to the run_as ids inside the namespace; the group mode lets Deno", () => {
  assert.deepEqual(launch("pidns", ["/bin/x", "a"], 65534, 65534), {
    cmd: "setsid",
    args: [
      "unshare",
      "--pid",
      "--fork",
      "--kill-child",
      "--setgid=65534",
      "--setuid=65534",
      "--",
      "/bin/x",
      "a",
    ],
  });
  assert.deepEqual(launch("group", ["/bin/x"], 1, 2), {
    cmd: "setsid",
    args: ["/bin/x"],
    uid: 1,
    gid: 2,
  });
});
