/**
 * `siglatch permissions [FILE]`: prints the `deno run` line, with the exact permission flags,
 * that serves a config (tests/cli/permissions_test.ts starts the daemon with exactly them).
 * @module
 */
import type { Command } from "commander";
import { loadConfigOrFail } from "./serve.ts";
import { shellQuote } from "./demo.ts";
import { permissionFlags } from "../daemon/permissions.ts";

const HELP = `
The daemon parses network input; it should hold only what its config uses. This prints one
line that runs it from source with exactly that (--json: the flags alone, as an array):
  deno run FLAGS /path/to/main.ts serve --config FILE
Add --v8-flags=--max-semi-space-size=1,--memory-saver-mode (the shipped tasks' young
generation size; not a permission). Print the line again after changing keys, paths,
listen addresses, the state store, actions or the admin socket.

What each flag is for:
  --unstable-net     Deno.listenDatagram (the UDP sockets)
  --unstable-kv      the embedded state store (absent with state.redis)
  --allow-read       the config and its directory (includes, reload), key files,
                     /etc/passwd and /etc/group (run_as users), the KV state directory,
                     the admin socket's directory, and src/ when run from source (the open
                     workers load their module from it; a compiled binary embeds it)
  --allow-write      the KV state directory, logging.file, the admin socket's directory
  --allow-net        replies: Deno checks the DESTINATION of every UDP send, and a reply
                     goes to whatever address and port the client sent from, so no list of
                     hosts can hold it. 0.0.0.0/0 when every listen address is IPv4 (this
                     also covers the binds); unrestricted when one is IPv6 (Deno 2.9 cannot
                     parse an IPv6 subnet). Plus the admin socket and the path it is first
                     bound at (unix:PATH names one exact path), and Redis by name.
  --allow-run        setsid (exec actions, destructors, dead drops start through it; the
                     command itself is started by setsid, not by Deno) and nft (firewall
                     actions, rate_limit.nftables)
  --allow-env        LOG_STREAM and LOG_TOKENS (the yaml parser reads them); unrestricted
                     with state.redis, because ioredis's \`debug\` lists the whole environment
  --allow-ffi        libc only: SO_RCVBUF (limits.recv_buffer) and the kernel drop counter.
                     FFI is outside Deno's permission model: see docs/SECURITY.md.

A compiled release binary has its permissions fixed at build time (docs/SECURITY.md).`;

/** The script that `deno run` starts: this checkout's main.ts when run from source. */
function mainScript(): string {
  const url = new URL("../../main.ts", import.meta.url);
  return url.protocol === "file:" ? url.pathname : "main.ts";
}

/** Registers the `permissions` subcommand. */
export function register(program: Command): void {
  program.command("permissions")
    .description("print the deno run line, with the exact permission flags, that serves a config")
    .argument("[file]", "config file", "/etc/siglatch/siglatchd.yaml")
    .option("--json", "print only the flags, as a JSON array")
    .addHelpText("after", HELP)
    .action(async (file: string, o: { json?: boolean }) => {
      const config = await loadConfigOrFail(file);
      const path = await Deno.realPath(file);
      const flags = permissionFlags(config, path);
      if (o.json) {
        console.log(JSON.stringify(flags));
        return;
      }
      const argv = ["deno", "run", ...flags, mainScript(), "serve", "--config", path];
      console.log(argv.map(shellQuote).join(" "));
    });
}
