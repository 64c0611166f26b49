/**
 * Network namespaces for firewall tests: two namespaces (server, client) joined by a veth
 * pair, with IPv4 and IPv6 addresses that exist only inside them. Everything is created
 * with names unique to this process and test, and deleted in `finally`.
 *
 * Nothing here touches the host's own network stack or ruleset: every `nft` runs through
 * `ip netns exec`.
 * @module
 */
import { hasCommand, isRoot, requireAll } from "./system.ts";
import { RUN_FLAGS } from "./flags.ts";

/** The result of a command run in a namespace. */
export interface RunResult {
  /** Exit code (124-like -1 when killed by the time bound). */
  code: number;
  /** Standard output as text. */
  stdout: string;
  /** Standard error as text. */
  stderr: string;
}

/** A server/client namespace pair. */
export interface NetnsPair {
  /** Server namespace name. */
  server: string;
  /** Client namespace name. */
  client: string;
  /** Server IPv4 address (on the veth). */
  serverIp: string;
  /** Client IPv4 address. */
  clientIp: string;
  /** Server IPv6 address. */
  serverIp6: string;
  /** Client IPv6 address. */
  clientIp6: string;
  /** A second client IPv4 address (an alias on the client veth), for "another address" tests. */
  clientIpB: string;
  /** The server end of the veth pair. */
  serverDev: string;
  /** The client end of the veth pair. */
  clientDev: string;
  /** Adds IPv4 addresses (`A.B.C.D/len`) to the client veth in one `ip -batch`. */
  addClientAddresses(cidrs: string[]): Promise<void>;
  /** Runs argv inside namespace `ns`, bounded by `timeoutMs` (default 10 s). */
  run(
    ns: string,
    argv: string[],
    opts?: { stdin?: string; timeoutMs?: number },
  ): Promise<RunResult>;
  /** Runs `nft -f -` with `script` in namespace `ns`; throws on failure. */
  nft(ns: string, script: string): Promise<void>;
  /** Attempts a TCP connect from the client namespace; true when it connected in `timeoutMs`. */
  canConnect(
    host: string,
    port: number,
    opts?: { from?: string; timeoutMs?: number },
  ): Promise<boolean>;
  /** Starts a TCP listener (accept + close) on every address of the server namespace. */
  listen(port: number): Promise<Deno.ChildProcess>;
}

/** True (and a console line) when a netns test cannot run here; never under SIGLATCH_REQUIRE_ALL=1. */
export function skipNetns(): boolean {
  if (requireAll) return false;
  const missing = ["ip", "nft"].filter((c) => !hasCommand(c));
  if (missing.length > 0) {
    console.log(`SKIP: ${missing.join(", ")} not installed (apt-get install iproute2 nftables)`);
    return true;
  }
  if (!isRoot) {
    console.log("SKIP: not root; network-namespace firewall tests are ignored");
    return true;
  }
  return false;
}

/** Runs argv with a time bound; never throws for a non-zero exit. */
export async function runBounded(
  argv: string[],
  opts: { stdin?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const [bin, ...args] = argv;
  const child = new Deno.Command(bin, {
    args,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
  }, opts.timeoutMs ?? 10_000);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return {
      code: out.signal ? -1 : out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

async function must(argv: string[]): Promise<void> {
  const r = await runBounded(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.trim() || `exit ${r.code}`}`);
}

/** 10 random base-36 digits: unique across the workers of one `deno test --parallel`. */
function uniqueId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return [...bytes].map((b) => (b % 36).toString(36)).join("");
}

/**
 * Creates a namespace pair, runs `fn`, and always deletes both namespaces (which removes
 * the veth pair, the addresses and every ruleset inside them) and any listener started.
 */
export async function withNetnsPair<T>(fn: (pair: NetnsPair) => Promise<T>): Promise<T> {
  // Test files run as workers of one process (--parallel): pid and module counters repeat,
  // so names come from 10 random base-36 digits alone (interface names stay within 15).
  const id = uniqueId();
  const server = `slS${id}`;
  const client = `slC${id}`;
  const vs = `vS${id}`.slice(0, 15);
  const vc = `vC${id}`.slice(0, 15);
  const x = 1 + Math.floor(Math.random() * 250);
  const pair: NetnsPair = {
    server,
    client,
    serverIp: `10.213.${x}.1`,
    clientIp: `10.213.${x}.2`,
    clientIpB: `10.213.${x}.3`,
    serverIp6: `fd13:213:${x.toString(16)}::1`,
    clientIp6: `fd13:213:${x.toString(16)}::2`,
    serverDev: vs,
    clientDev: vc,
    async addClientAddresses(cidrs) {
      const r = await runBounded(["ip", "-n", client, "-batch", "-"], {
        stdin: cidrs.map((c) => `addr add ${c} dev ${vc}\n`).join(""),
      });
      if (r.code !== 0) throw new Error(`ip addr add in ${client}: ${r.stderr.trim()}`);
    },
    run: (ns, argv, opts) => runBounded(["ip", "netns", "exec", ns, ...argv], opts),
    async nft(ns, script) {
      const r = await runBounded(["ip", "netns", "exec", ns, "nft", "-f", "-"], { stdin: script });
      if (r.code !== 0) throw new Error(`nft in ${ns}: ${r.stderr.trim()}`);
    },
    async canConnect(host, port, opts = {}) {
      const ms = opts.timeoutMs ?? 800;
      // python3 (Debian's /usr/bin/python3) can bind a chosen source address; bash cannot.
      const code = `import socket
s = socket.socket(socket.AF_INET6 if ":" in "${host}" else socket.AF_INET)
s.settimeout(${ms / 1000})
${opts.from ? `s.bind(("${opts.from}", 0))` : ""}
s.connect(("${host}", ${port}))`;
      const r = await runBounded(["ip", "netns", "exec", client, "/usr/bin/python3", "-c", code], {
        timeoutMs: ms + 3000,
      });
      return r.code === 0;
    },
    async listen(port) {
      const child = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          server,
          "deno",
          "eval",
          "--quiet",
          `const l = Deno.listen({ hostname: "::", port: ${port} }); console.log("ready"); ` +
          `for await (const c of l) c.close();`,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      listeners.push(child);
      const reader = child.stdout.getReader();
      const first = await Promise.race([
        reader.read(),
        new Promise<null>((r) => setTimeout(() => r(null), 15_000)),
      ]);
      reader.releaseLock();
      child.stdout.cancel().catch(() => {});
      if (first === null || first.done) throw new Error("listener did not start");
      return child;
    },
  };
  const listeners: Deno.ChildProcess[] = [];
  try {
    await must(["ip", "netns", "add", server]);
    await must(["ip", "netns", "add", client]);
    await must([
      "ip",
      "link",
      "add",
      vs,
      "netns",
      server,
      "type",
      "veth",
      "peer",
      "name",
      vc,
      "netns",
      client,
    ]);
    for (
      const [ns, dev, v4, v6] of [
        [server, vs, `${pair.serverIp}/24`, `${pair.serverIp6}/64`],
        [client, vc, `${pair.clientIp}/24`, `${pair.clientIp6}/64`],
      ]
    ) {
      await must(["ip", "-n", ns, "link", "set", "lo", "up"]);
      await must(["ip", "-n", ns, "addr", "add", v4, "dev", dev]);
      await must(["ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
      await must(["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    await must(["ip", "-n", client, "addr", "add", `${pair.clientIpB}/24`, "dev", vc]);
    return await fn(pair);
  } finally {
    for (const l of listeners) {
      try {
        l.kill("SIGKILL");
      } catch {
        // gone
      }
      await l.status.catch(() => {});
    }
    await runBounded(["ip", "netns", "del", client]);
    await runBounded(["ip", "netns", "del", server]);
  }
}

/**
 * Lets the server namespace of `pair` take datagrams from spoofed sources: reverse-path
 * filtering off (a forged source is not a martian there) and a default route back over the
 * veth (replies to forged sources leave and are dropped by the client namespace).
 */
export async function acceptSpoofedSources(pair: NetnsPair): Promise<void> {
  const { server, serverDev } = pair;
  for (
    const argv of [
      ["ip", "netns", "exec", server, "sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0"],
      ["ip", "netns", "exec", server, "sysctl", "-q", "-w", "net.ipv4.conf.default.rp_filter=0"],
      [
        "ip",
        "netns",
        "exec",
        server,
        "sysctl",
        "-q",
        "-w",
        `net.ipv4.conf.${serverDev}.rp_filter=0`,
      ],
      ["ip", "-n", server, "route", "add", "default", "via", pair.clientIp],
    ]
  ) {
    const r = await runBounded(argv);
    if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
}

/** A daemon process running inside a namespace. */
export interface NetnsDaemon {
  /** The process (`ip netns exec` execs deno, so this is the daemon itself). */
  child: Deno.ChildProcess;
  /** Everything it wrote (stdout and stderr) so far. */
  logs(): string;
  /** Resolves when the output matches `re`; rejects after `ms` or when the daemon exits. */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** Sends `signal` (default SIGTERM) and waits for the exit (SIGKILL after 10 s). */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/**
 * Starts `siglatch serve --config CONFIG` inside namespace `ns` with the permission flags
 * the shipped unit uses (or `opts.runFlags`: the whole `deno run …` flag list), and waits
 * for its ready line.
 */
export async function startDaemonIn(
  ns: string,
  config: string,
  opts: {
    readyMs?: number;
    root?: string;
    runFlags?: readonly string[];
    /** argv run before deno, e.g. `setpriv --nnp --bounding-set …` */
    prefix?: readonly string[];
  } = {},
): Promise<NetnsDaemon> {
  const root = opts.root ?? new URL("../../", import.meta.url).pathname;
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns,
      ...(opts.prefix ?? []),
      Deno.execPath(),
      ...(opts.runFlags ?? RUN_FLAGS),
      // SIGLATCH_BENCH_CPU_PROF=DIR: a V8 CPU profile of the daemon (bench/knock_bench.ts).
      ...(Deno.env.get("SIGLATCH_BENCH_CPU_PROF")
        ? ["--cpu-prof", `--cpu-prof-dir=${Deno.env.get("SIGLATCH_BENCH_CPU_PROF")}`]
        : []),
      `${root}main.ts`,
      "serve",
      "--config",
      config,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let text = "";
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      for (const w of waiters) w();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    for (const w of waiters) w();
    return s;
  });
  const waitFor = (re: RegExp, ms = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (re.test(text)) finish(undefined);
        else if (exited) finish(new Error(`daemon exited while waiting for ${re}:\n${text}`));
      };
      const finish = (err: Error | undefined) => {
        clearTimeout(timer);
        waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(
        () => finish(new Error(`timed out waiting for ${re} in daemon output:\n${text}`)),
        ms,
      );
      waiters.add(check);
      check();
    });
  const daemon: NetnsDaemon = {
    child,
    logs: () => text,
    waitFor,
    async stop(signal = "SIGTERM") {
      if (!exited) {
        try {
          child.kill(signal);
        } catch {
          // gone
        }
      }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // gone
        }
      }, 10_000);
      const s = await status;
      clearTimeout(killer);
      await pumps.catch(() => {});
      return s;
    },
  };
  try {
    await waitFor(/siglatchd ready/, opts.readyMs ?? 20_000);
  } catch (err) {
    await daemon.stop("SIGKILL");
    throw err;
  }
  return daemon;
}

/** Runs fn with a fresh empty namespace (no veth needed for set contents). */
export async function withNs<T>(fn: (ns: string) => Promise<T>): Promise<T> {
  const ns = `slU${uniqueId()}`;
  const add = await runBounded(["ip", "netns", "add", ns]);
  if (add.code !== 0) throw new Error(add.stderr);
  try {
    return await fn(ns);
  } finally {
    await runBounded(["ip", "netns", "del", ns]);
  }
}
