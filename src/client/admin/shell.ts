/**
 * `siglatch admin`: running one command against the control socket, and the interactive
 * shell (prompt, history in memory and in `~/.siglatch_history`, Tab completion of
 * commands and of server/action/user names fetched from the daemon, Ctrl-C clears the
 * line, Ctrl-D exits).
 * @module
 */
import { AdminClient } from "./client.ts";
import {
  COMMAND_NAMES,
  commandSpec,
  formatLogEntry,
  formatResult,
  helpText,
  LIST_WHATS,
  type LogEntry,
  parseCommand,
  splitWords,
} from "../../admin/protocol.ts";
import { commonPrefix, History, type Key, KeyDecoder, LineBuffer, renderLine } from "./lineedit.ts";

/** The shell prompt. */
export const PROMPT = "siglatch> ";
/** Words the shell understands besides the daemon's commands. */
export const SHELL_WORDS = ["exit", "quit"];

/** Where output goes. */
export interface Output {
  /** Normal output (a line, without newline). */
  out(text: string): void;
  /** Errors (a line, without newline). */
  err(text: string): void;
}

/** Output to the process's stdout/stderr. */
export const consoleOutput: Output = {
  out: (t) => console.log(t),
  err: (t) => console.error(t),
};

/**
 * Runs one command (as words) and prints the result; returns the exit status (0 ok, 1
 * refused or failed, 2 usage). `logs --follow` streams until `stop` resolves or the
 * daemon closes.
 */
export async function runCommand(
  socket: string,
  client: AdminClient,
  words: string[],
  opts: { json?: boolean; output?: Output; stop?: Promise<unknown> } = {},
): Promise<number> {
  const o = opts.output ?? consoleOutput;
  const parsed = parseCommand(words);
  if (!parsed.ok) {
    o.err(`error: ${parsed.error}`);
    return 2;
  }
  if (parsed.cmd === "logs" && parsed.args.follow === true) {
    // Its own connection, so the shell's connection stays usable and closing stops it.
    const follower = await AdminClient.connect(socket);
    try {
      await follower.follow(parsed.args, (e: LogEntry) => {
        o.out(opts.json ? JSON.stringify(e) : formatLogEntry(e));
      });
      await Promise.race([follower.closed, opts.stop ?? new Promise(() => {})]);
    } catch (err) {
      o.err(`error: ${err instanceof Error ? err.message : err}`);
      return 1;
    } finally {
      follower.close();
    }
    return 0;
  }
  const res = await client.request(parsed.cmd, parsed.args, 120_000);
  if (opts.json) {
    o.out(JSON.stringify(res.ok ? res.result : { error: res.error }));
    return res.ok ? 0 : 1;
  }
  if (!res.ok) {
    o.err(`error: ${res.error}`);
    return 1;
  }
  const text = formatResult(parsed.cmd, parsed.args, res.result);
  if (text !== "") o.out(text);
  return 0;
}

/** Names the daemon knows, per kind (for completion). */
export interface KnownNames {
  /** Server names. */
  server: string[];
  /** Action names. */
  action: string[];
  /** User names. */
  user: string[];
}

/**
 * Completion candidates for the word being typed at the end of `before`.
 * Returns the start of that word (index into `before`) and the matching candidates.
 */
export function completeLine(
  before: string,
  names: KnownNames,
): { start: number; candidates: string[] } {
  const m = /(\S*)$/.exec(before)!;
  const partial = m[1];
  const start = before.length - partial.length;
  const words = before.slice(0, start).trim().split(/\s+/).filter(Boolean);
  const pick = (all: readonly string[]) => [...new Set(all.filter((c) => c.startsWith(partial)))];
  if (words.length === 0) return { start, candidates: pick([...COMMAND_NAMES, ...SHELL_WORDS]) };
  const spec = commandSpec(words[0]);
  if (!spec) return { start, candidates: [] };
  if (spec.name === "help") {
    return { start, candidates: words.length === 1 ? pick(COMMAND_NAMES) : [] };
  }
  const last = words[words.length - 1];
  if (spec.flagValues?.[last]) return { start, candidates: pick(spec.flagValues[last]) };
  if (partial.startsWith("-")) return { start, candidates: pick(spec.flags) };
  const positional = words.slice(1).filter((w) => !w.startsWith("--"));
  if (spec.first && positional.length === 0) return { start, candidates: pick(spec.first) };
  if (spec.nameAfterFirst && positional.length === 1) {
    const kind = positional[0] as keyof KnownNames;
    return { start, candidates: pick(names[kind] ?? []) };
  }
  if (spec.name === "list" && positional.length === 0) {
    return { start, candidates: pick(LIST_WHATS) };
  }
  return { start, candidates: [] };
}

/** The user's history file. */
export function historyFile(): string | undefined {
  const home = Deno.env.get("HOME");
  return home ? `${home}/.siglatch_history` : undefined;
}

async function loadHistory(path: string | undefined): Promise<string[]> {
  if (!path) return [];
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim() !== "");
  } catch {
    return [];
  }
}

/** Options of {@linkcode runShell}. */
export interface ShellOptions {
  /** Socket path (for `logs --follow`, which uses its own connection). */
  socket: string;
  /** History file (`undefined`: memory only). */
  historyPath?: string;
}

/** The terminal the shell draws on. */
class Terminal {
  readonly #enc = new TextEncoder();
  raw = false;
  write(s: string): void {
    const text = this.raw ? s.replace(/\r?\n/g, "\r\n") : s;
    Deno.stdout.writeSync(this.#enc.encode(text));
  }
  setRaw(on: boolean): void {
    if (this.raw === on) return;
    Deno.stdin.setRaw(on);
    this.raw = on;
  }
}

/**
 * The interactive shell. On a terminal: line editing in raw mode; otherwise it reads
 * commands line by line (scripts). Returns the exit status (1 if any command failed when
 * not interactive).
 */
export async function runShell(first: AdminClient, opts: ShellOptions): Promise<number> {
  const interactive = Deno.stdin.isTerminal();
  if (!interactive) return await runScript(first, opts.socket);
  // The daemon closes idle connections: reconnect quietly when the operator comes back.
  let current = first;
  const connected = async (): Promise<AdminClient> => {
    if (current.isClosed) current = await AdminClient.connect(opts.socket);
    return current;
  };
  const term = new Terminal();
  const history = new History(await loadHistory(opts.historyPath));
  let historyWritable = opts.historyPath !== undefined;
  const output: Output = {
    out: (t) => term.write(t + "\n"),
    err: (t) => term.write(t + "\n"),
  };
  let namesAt = 0;
  let names: KnownNames = { server: [], action: [], user: [] };
  const knownNames = async (): Promise<KnownNames> => {
    if (Date.now() - namesAt < 5000) return names;
    const fetched: KnownNames = { server: [], action: [], user: [] };
    for (const kind of ["server", "action", "user"] as const) {
      try {
        const r = await (await connected()).request("list", { what: `${kind}s` }, 5000);
        if (r.ok && Array.isArray(r.result)) {
          fetched[kind] = r.result.map((x) => String((x as { name?: unknown }).name));
        }
      } catch {
        // keep what we had
      }
    }
    names = fetched;
    namesAt = Date.now();
    return names;
  };

  // Ctrl-C while a command runs (cooked mode) stops that command, not the shell.
  let interruptCommand: (() => void) | undefined;
  const onSigint = () => interruptCommand?.();
  Deno.addSignalListener("SIGINT", onSigint);

  const status = await first.request("status", {}, 5000).catch(() => undefined);
  const version = status?.ok ? (status.result as { config_version?: number }).config_version : "?";
  term.write(
    `connected to ${opts.socket} (config version ${version}).\n` +
      "Type help for commands; Tab completes; Ctrl-D exits.\n",
  );

  const decoder = new KeyDecoder();
  const buf = new Uint8Array(4096);
  const pendingKeys: Key[] = [];
  const nextKey = async (): Promise<Key | null> => {
    while (pendingKeys.length === 0) {
      const n = await Deno.stdin.read(buf);
      if (n === null) return null;
      pendingKeys.push(...decoder.feed(buf.subarray(0, n)));
    }
    return pendingKeys.shift()!;
  };

  try {
    while (true) {
      const line = new LineBuffer(history);
      term.setRaw(true);
      term.write(PROMPT);
      let entered: string | null = null;
      while (entered === null) {
        const key = await nextKey();
        if (key === null) break;
        if (key.type === "enter") {
          entered = line.text;
          term.write("\r\n");
        } else if (key.type === "interrupt") {
          term.write("^C\r\n");
          line.set("");
          term.write(PROMPT);
        } else if (key.type === "eof") {
          if (line.chars.length === 0) break;
          line.apply({ type: "delete" });
          term.write(renderLine(PROMPT, line));
        } else if (key.type === "clear-screen") {
          term.write("\x1b[H\x1b[2J" + renderLine(PROMPT, line));
        } else if (key.type === "tab") {
          const before = line.beforeCursor;
          const { start, candidates } = completeLine(before, await knownNames());
          const partial = before.slice(start);
          if (candidates.length === 1) {
            line.insert(candidates[0].slice(partial.length) + " ");
          } else if (candidates.length > 1) {
            const prefix = commonPrefix(candidates);
            if (prefix.length > partial.length) line.insert(prefix.slice(partial.length));
            else term.write("\r\n" + candidates.join("  ") + "\r\n");
          } else {
            term.write("\x07");
          }
          term.write(renderLine(PROMPT, line));
        } else {
          line.apply(key);
          term.write(renderLine(PROMPT, line));
        }
      }
      term.setRaw(false);
      if (entered === null) {
        term.write("\n");
        break;
      }
      const text = entered.trim();
      if (text === "") continue;
      if (history.add(text) && historyWritable && opts.historyPath) {
        try {
          await Deno.writeTextFile(opts.historyPath, text + "\n", { append: true, mode: 0o600 });
        } catch {
          historyWritable = false;
        }
      }
      const { words, error } = splitWords(text);
      if (error) {
        output.err(`error: ${error}`);
        continue;
      }
      if (SHELL_WORDS.includes(words[0])) break;
      if (words[0] === "help") {
        const p = parseCommand(words);
        output.out(
          p.ok ? helpText(p.args.command as string | undefined) + shellHelp(p.args) : p.error,
        );
        continue;
      }
      const { promise: stop, resolve } = Promise.withResolvers<void>();
      interruptCommand = () => resolve();
      try {
        await runCommand(opts.socket, await connected(), words, { output, stop });
      } catch (err) {
        output.err(`error: ${err instanceof Error ? err.message : err}`);
        if (err instanceof Error && /closed|connect/.test(err.message)) break;
      } finally {
        interruptCommand = undefined;
      }
      if (words[0] === "reload") namesAt = 0;
    }
  } finally {
    term.setRaw(false);
    Deno.removeSignalListener("SIGINT", onSigint);
    if (current !== first) current.close();
  }
  return 0;
}

function shellHelp(args: Record<string, unknown>): string {
  return args.command === undefined ? `\n  ${"exit".padEnd(10)}  leave the shell (or Ctrl-D)` : "";
}

/** Reads commands from a non-terminal stdin, one per line. */
async function runScript(client: AdminClient, socket: string): Promise<number> {
  const decoder = new TextDecoder();
  let text = "";
  let status = 0;
  const lines: string[] = [];
  for await (const chunk of Deno.stdin.readable) {
    text += decoder.decode(chunk, { stream: true });
    const parts = text.split("\n");
    text = parts.pop()!;
    lines.push(...parts);
  }
  if (text.trim() !== "") lines.push(text);
  for (const raw of lines) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const { words, error } = splitWords(line);
    if (error) {
      console.error(`error: ${error}`);
      status = 1;
      continue;
    }
    if (SHELL_WORDS.includes(words[0])) break;
    const code = await runCommand(socket, client, words).catch((err) => {
      console.error(`error: ${err instanceof Error ? err.message : err}`);
      return 1;
    });
    if (code !== 0) status = 1;
  }
  return status;
}
