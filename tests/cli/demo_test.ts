/**
 * `siglatch demo` / `deno task start` as a new user meets it: real demo processes on free
 * loopback ports in temp dirs, real clients, and the printed commands run through `sh` exactly as
 * printed, with a PATH like the user's (deno on it, only npx, or neither).
 * @module
 */
import assert from "node:assert/strict";
import { freeUdpPort, ROOT, RUN_FLAGS, runCli } from "../_helpers/daemon.ts";
import { skipWithout } from "../_helpers/system.ts";

const DENO_DIR = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;

/**
 * A bin dir holding links to `sh` and the named programs only (e.g. deno, or npx and node): the
 * whole PATH of a user who has exactly these (on merged-/usr Debian /bin holds deno too).
 */
async function binDir(root: string, programs: Record<string, string>): Promise<string> {
  const dir = `${root}/bin`;
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, target] of Object.entries({ sh: "/bin/sh", ...programs })) {
    await Deno.symlink(target, `${dir}/${name}`);
  }
  return dir;
}

function which(name: string): string {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return Deno.realPathSync(`${dir}/${name}`);
    } catch {
      // not here
    }
  }
  throw new Error(`${name} not on PATH`);
}

/** Environment of a user shell: only HOME, DENO_DIR, PATH and `extra`. */
function userEnv(path: string, extra: Record<string, string> = {}): Record<string, string> {
  return { HOME: Deno.env.get("HOME") ?? "/root", DENO_DIR, PATH: path, NO_COLOR: "1", ...extra };
}

interface Demo {
  /** Everything the demo wrote to stderr and stdout so far. */
  text(): string;
  /** The commands printed under "try, in another terminal:". */
  tryCommands(): string[];
  /** Stops the demo (SIGTERM) and returns its exit code. */
  stop(): Promise<number>;
}

/** Starts `main.ts demo ARGS` in `cwd` and waits until the daemon is ready. */
async function startDemo(cwd: string, args: string[], env: Record<string, string>): Promise<Demo> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, `${ROOT}/main.ts`, "demo", ...args],
    cwd,
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const ready = Promise.withResolvers<void>();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (/siglatchd ready/.test(text)) ready.resolve();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status;
  status.then(() => ready.reject(new Error(`demo exited before ready:\n${text}`)));
  await ready.promise;
  return {
    text: () => text,
    tryCommands: () => {
      const lines = text.split("\n");
      const at = lines.findIndex((l) => /try, in another terminal:$/.test(l));
      assert.ok(at >= 0, text);
      const out: string[] = [];
      for (const l of lines.slice(at + 1)) {
        if (!l.startsWith("  ")) break;
        out.push(l.trim());
      }
      return out;
    },
    stop: async () => {
      child.kill("SIGTERM");
      const s = await status;
      await pumps;
      return s.code;
    },
  };
}

/** Runs `script` through `sh -e` in `cwd` with `env`. */
async function sh(script: string, cwd: string, env: Record<string, string>) {
  const out = await new Deno.Command("/bin/sh", {
    args: ["-ec", script],
    cwd,
    clearEnv: true,
    env,
    stdin: "null",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "siglatch-demo-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("demo: a busy port is named with --port advice; the next run with --port uses that port", async () => {
  await withTemp(async (tmp) => {
    const busy = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const port = (busy.addr as Deno.NetAddr).port;
    const demoDir = `${tmp}/demo`;
    try {
      // Through the README's task (`deno task start`), from outside the repo via --config.
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "task",
          "--config",
          `${ROOT}/deno.json`,
          "start",
          "--dir",
          demoDir,
          "--port",
          `${port}`,
        ],
        cwd: tmp,
        clearEnv: true,
        env: userEnv("/usr/bin:/bin"),
        stdin: "null",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, stderr);
      assert.match(stderr, new RegExp(`127\\.0\\.0\\.1:${port} \\(UDP\\) is already in use`));
      const advice = /task start --dir \S+ --port (\d+)/.exec(stderr);
      assert.ok(advice, stderr);
      assert.notEqual(Number(advice[1]), port);
      assert.doesNotMatch(stderr, /os error 98/);
    } finally {
      busy.close();
    }
    // The dir that run left behind says `port` (now free again but no longer wanted).
    const keyBefore = await Deno.readTextFile(`${demoDir}/keys/server.x25519.pem`);
    const hmacBefore = await Deno.readTextFile(`${demoDir}/keys/demo.hmac`);
    const other = freeUdpPort();
    const demo = await startDemo(
      tmp,
      ["--dir", demoDir, "--port", `${other}`],
      userEnv("/usr/bin:/bin"),
    );
    try {
      assert.match(demo.text(), new RegExp(`port ${port} → ${other}: rewrote`));
      assert.match(demo.text(), new RegExp(`listening on udp 127\\.0\\.0\\.1:${other} `));
      assert.doesNotMatch(demo.text(), new RegExp(`udp 127\\.0\\.0\\.1:${port} `));
      assert.match(
        await Deno.readTextFile(`${demoDir}/client.yaml`),
        new RegExp(`^port: ${other}$`, "m"),
      );
      assert.equal(await Deno.readTextFile(`${demoDir}/keys/server.x25519.pem`), keyBefore);
      assert.equal(await Deno.readTextFile(`${demoDir}/keys/demo.hmac`), hmacBefore);
      const ping = await runCli(["send", "--profile", `${demoDir}/client.yaml`, "ping"]);
      assert.equal(ping.code, 0, ping.stderr);
      assert.equal(ping.stdout.trim(), "pong");
    } finally {
      assert.equal(await demo.stop(), 0);
    }
    // Without --port the demo keeps its last port.
    const again = await startDemo(tmp, ["--dir", demoDir], userEnv("/usr/bin:/bin"));
    try {
      assert.match(again.text(), new RegExp(`listening on udp 127\\.0\\.0\\.1:${other} `));
    } finally {
      assert.equal(await again.stop(), 0);
    }
  });
});

Deno.test("demo: send ping, echo, messages and list_grants succeed against it; check --strict is clean", async () => {
  await withTemp(async (tmp) => {
    const port = freeUdpPort();
    const demo = await startDemo(tmp, ["--port", `${port}`], userEnv("/usr/bin:/bin"));
    const profile = `${tmp}/.siglatch-demo/client.yaml`;
    try {
      const ping = await runCli(["send", "--profile", profile, "ping"]);
      assert.equal(ping.code, 0, ping.stderr);
      assert.equal(ping.stdout.trim(), "pong");
      const echo = await runCli(["send", "--profile", profile, "echo", "hello"]);
      assert.equal(echo.code, 0, echo.stderr);
      assert.equal(echo.stdout.trim(), "hello");
      const msgs = await runCli(["messages", profile]);
      assert.equal(msgs.code, 0, msgs.stderr);
      assert.equal(msgs.stdout.trim(), "[notice] welcome to the siglatch demo");
      const grants = await runCli(["send", "--profile", profile, "list_grants"]);
      assert.equal(grants.code, 0, grants.stderr);
      const check = await runCli(["check", "--strict", `${tmp}/.siglatch-demo/siglatchd.yaml`]);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.match(check.stdout + check.stderr, /OK \(0 errors, 0 warnings\)/);
      // The dashboard: its URL with a login token is printed; the token opens /metrics.
      const url = /dashboard and \/metrics: (http:\/\/127\.0\.0\.1:\d+)\/login#token=(\S+)/
        .exec(demo.text());
      assert.ok(url, demo.text());
      const metrics = await fetch(`${url[1]}/metrics`, {
        headers: { authorization: `Bearer ${url[2]}` },
      });
      assert.equal(metrics.status, 200);
      assert.match(
        await metrics.text(),
        /^siglatch_requests_accepted_total\{user="demo",action="ping"/m,
      );
    } finally {
      assert.equal(await demo.stop(), 0);
    }
  });
});

/** Starts a demo with `env`, runs its printed commands through sh with the same env. */
async function printedCommandsRun(env: (tmp: string) => Promise<Record<string, string>>) {
  let printed: string[] = [];
  await withTemp(async (tmp) => {
    const e = await env(tmp);
    const demo = await startDemo(tmp, ["--port", `${freeUdpPort()}`], e);
    try {
      printed = demo.tryCommands();
      const r = await sh(printed.join("\n"), tmp, e);
      assert.equal(r.code, 0, `${printed.join("\n")}\n${r.stderr}`);
      // echo prints the payload as sent, without a newline.
      assert.equal(r.stdout, "pong\nhello[notice] welcome to the siglatch demo\n");
    } finally {
      assert.equal(await demo.stop(), 0);
    }
  });
  return printed;
}

Deno.test("demo: printed commands run as printed where deno is on PATH", async () => {
  const printed = await printedCommandsRun(async (tmp) =>
    userEnv(await binDir(tmp, { deno: Deno.execPath() }))
  );
  assert.match(printed[0], /^cd /);
  assert.match(printed[1], /^deno task siglatch send --profile \/\S+\/client\.yaml ping$/);
});

Deno.test("demo: printed commands run as printed where deno is only a path (no PATH entry)", async () => {
  const printed = await printedCommandsRun(async (tmp) => userEnv(await binDir(tmp, {})));
  assert.ok(printed[1].startsWith(`${Deno.execPath()} task siglatch send`), printed[1]);
});

Deno.test({
  name: "demo: started by npx, the printed commands use npx and run with only npx and node",
  ignore: skipWithout("npx", "npm"),
  fn: async () => {
    const printed = await printedCommandsRun(async (tmp) => {
      const bin = await binDir(tmp, { npx: which("npx"), node: which("node") });
      // What npx sets for the program it starts (the demo reads it to know how it was started).
      return userEnv(bin, { npm_lifecycle_event: "npx" });
    });
    assert.ok(
      printed[1].startsWith(`npx -y deno@${Deno.version.deno} task siglatch send --profile`),
      printed[1],
    );
  },
});
