/**
 * `siglatch demo`: a loopback-only daemon in `./.siglatch-demo/` (files: `demo_files.ts`). Checks
 * the port first (a busy one is named, with a free one to pass to `--port`) and prints commands
 * to try that work as printed with however Deno was started (`npx -y deno@…`, `deno`, a path).
 * @module
 */
import type { Command } from "commander";
import { createHash } from "node:crypto";
import { isAbsolute, relative, resolve } from "node:path";
import { serve } from "./serve.ts";
import { CliError } from "./errors.ts";
import { ensureDemo } from "./demo_files.ts";

/** Repository root: where `deno task` runs (the dir of deno.json). */
const ROOT = resolve(new URL("../../", import.meta.url).pathname);

/** The environment facts that decide how the printed commands start siglatch. */
export interface LaunchFacts {
  /** `Deno.execPath()`. */
  execPath: string;
  /** The Deno version (`Deno.version.deno`). */
  version: string;
  /** True when this process was started by `npx` (npm sets `npm_lifecycle_event=npx`). */
  viaNpx: boolean;
  /** True when an executable `deno` is on PATH. */
  denoOnPath: boolean;
  /** The release package's launcher that started this process (`SIGLATCH_LAUNCHER`), if any. */
  launcher?: string;
}

/** Reads {@link LaunchFacts} from this process. */
export function launchFacts(): LaunchFacts {
  const viaNpx = Deno.env.get("npm_lifecycle_event") === "npx" ||
    Deno.env.get("npm_command") === "exec";
  return {
    execPath: Deno.execPath(),
    version: Deno.version.deno,
    viaNpx,
    denoOnPath: onPath("deno"),
    launcher: Deno.env.get("SIGLATCH_LAUNCHER") || undefined,
  };
}

function onPath(name: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const st = Deno.statSync(`${dir}/${name}`);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** Quotes `s` for a POSIX shell when it needs it. */
export function shellQuote(s: string): string {
  return /^[\w./@:=+,-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * How to start Deno in a printed command. Under npx, `deno` on PATH is npx's own bin dir, gone
 * in the user's next terminal, so the npx form is printed; a compiled siglatch is itself.
 *
 * @example
 * denoCommand({ execPath: "/x/deno", version: "2.9.6", viaNpx: true, denoOnPath: true })
 * // → "npx -y deno@2.9.6"
 */
export function denoCommand(f: LaunchFacts): string {
  if (f.viaNpx) return `npx -y deno@${f.version}`;
  if (f.denoOnPath) return "deno";
  return shellQuote(f.execPath);
}

/**
 * `siglatch` as the user can type it: `<deno> task siglatch`, a compiled binary's path, or
 * a release package's launcher.
 */
export function siglatchCommand(f: LaunchFacts): string {
  if (f.launcher) return shellQuote(f.launcher); // a release package's /usr/bin/siglatch
  const base = f.execPath.split("/").pop() ?? "";
  if (base !== "deno" && base !== "deno.exe") return shellQuote(f.execPath);
  return `${denoCommand(f)} task siglatch`;
}

/** A path as `deno task` (cwd: the repo root) sees it: relative inside the repo, else absolute. */
function forTask(path: string): string {
  const abs = resolve(path);
  const rel = relative(ROOT, abs);
  return shellQuote(rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : abs);
}

/** The lines printed after start: commands to run in another terminal, exactly as printed. */
export function tryLines(f: LaunchFacts, profile: string, userDir: string): string[] {
  const s = siglatchCommand(f);
  const p = forTask(profile);
  const inRepo = !relative(ROOT, resolve(userDir)).startsWith("..");
  return [
    ...(inRepo || !s.endsWith("task siglatch") ? [] : [`cd ${shellQuote(ROOT)}`]),
    `${s} send --profile ${p} ping`,
    `${s} send --profile ${p} echo hello`,
    `${s} messages ${p}`,
  ];
}

/** True when UDP `127.0.0.1:port` can be bound now. */
function portFree(port: number): boolean {
  try {
    Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) return false;
    throw err;
  }
}

/** The message for a busy port: the address, and a free port to pass to `--port`. */
export function busyPortMessage(f: LaunchFacts, port: number, dirArg: string): string {
  let other = 0;
  for (let p = port + 1; p <= Math.min(port + 200, 65535) && other === 0; p++) {
    if (portFree(p)) other = p;
  }
  const start = siglatchCommand(f).endsWith("task siglatch")
    ? `${denoCommand(f)} task start`
    : `${siglatchCommand(f)} demo`;
  return `127.0.0.1:${port} (UDP) is already in use: another demo or program listens there.\n` +
    `Pick another port with --port, e.g.:\n  ${start}${dirArg} --port ${other || "PORT"}`;
}

/** Registers the `demo` subcommand. */
export function register(program: Command): void {
  program.command("demo")
    .description("run a loopback-only demo daemon (creates ./.siglatch-demo/ on first run)")
    .option("--dir <dir>", "where the demo lives", ".siglatch-demo")
    .option("--port <port>", "UDP port on 127.0.0.1 (default: the demo's last port, else 50000)")
    .action(async (o: { dir: string; port?: string }) => {
      const port = o.port === undefined ? undefined : Number(o.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
        throw new CliError(`--port ${o.port}: expected 1..65535`, 2);
      }
      const facts = launchFacts();
      const dirArg = o.dir === ".siglatch-demo" ? "" : ` --dir ${shellQuote(o.dir)}`;
      // As root the daemon runs its network part as an unprivileged user, which must reach
      // the state and socket directories: keep them under /run, not inside the checkout.
      const runtimeDir = Deno.uid() === 0
        ? `/run/siglatch-demo-${
          createHash("sha256").update(resolve(o.dir)).digest("hex").slice(0, 12)
        }`
        : undefined;
      const demo = await ensureDemo({ dir: o.dir, port, runtimeDir });
      if (!portFree(demo.port)) throw new CliError(busyPortMessage(facts, demo.port, dirArg));
      const userDir = Deno.env.get("INIT_CWD") ?? Deno.cwd();
      console.error(
        [
          `${demo.created ? "created" : "using"} demo in ${o.dir}/ (config ${demo.config})`,
          ...demo.changes,
          `dashboard and /metrics: http://127.0.0.1:${demo.port}/login#token=${demo.webToken}`,
          `demo server on 127.0.0.1:${demo.port} (UDP); try, in another terminal:`,
          ...tryLines(facts, demo.profile, userDir).map((l) => `  ${l}`),
          "",
        ].join("\n"),
      );
      let code;
      try {
        code = await serve({ config: demo.config });
      } catch (err) {
        // Taken between the check and the bind: same message.
        if (err instanceof CliError && /in use/i.test(err.message)) {
          throw new CliError(busyPortMessage(facts, demo.port, dirArg));
        }
        throw err;
      }
      if (code !== 0) throw new CliError("", code);
    });
}
