/**
 * The child process a module plugin runs in: it starts the plugin's entry as a Worker
 * whose Deno permissions are exactly the manifest's (`deno.permissions`; anything else
 * throws NotCapable inside the plugin), hands it the request and writes its answer to
 * stdout. This process itself is started by the exec runner (run_as, timeout, output
 * cap, cleared environment) with the manifest's permissions plus reading the plugin folder.
 *
 * Usage: module_host.ts ENTRY PERMISSIONS_JSON ACTION
 * @module
 */
import { MODULE_PROTOCOL_VERSION, type PluginAnswer, type PluginMessage } from "./protocol.ts";

/** Bytes read from stdin at most (an action's max_payload is at most 64 KiB). */
const MAX_STDIN = 65536;

async function readStdin(): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of Deno.stdin.readable) {
    n += c.length;
    if (n > MAX_STDIN) throw new Error("stdin longer than 64 KiB");
    chunks.push(c);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) (out.set(c, o), o += c.length);
  return out;
}

function workerPermissions(p: Record<string, string[]>): Deno.PermissionOptionsObject {
  const list = (v: string[] | undefined) => (v && v.length > 0 ? v : false);
  return {
    read: list(p.read),
    write: list(p.write),
    net: list(p.net),
    env: list(p.env),
    run: list(p.run),
    sys: list(p.sys) as Deno.PermissionOptionsObject["sys"],
    ffi: false,
    import: false,
  };
}

async function main(): Promise<number> {
  const [entry, perms, action] = Deno.args;
  const payload = await readStdin();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (k.startsWith("SIGLATCH_")) env[k] = v;
  }
  let config: Record<string, unknown> = {};
  try {
    config = JSON.parse(env.SIGLATCH_PLUGIN_CONFIG ?? "{}");
  } catch {
    // the runner writes it; left empty if not JSON
  }
  const worker = new Worker(new URL(`file://${entry}`), {
    type: "module",
    name: action,
    deno: { permissions: workerPermissions(JSON.parse(perms)) },
  });
  const answer = await new Promise<PluginAnswer | Error>((resolve) => {
    worker.onmessage = (e: MessageEvent<PluginAnswer>) => resolve(e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      resolve(new Error(e.message));
    };
    worker.onmessageerror = () => resolve(new Error("the plugin's answer could not be read"));
    const msg: PluginMessage = { version: MODULE_PROTOCOL_VERSION, action, config, env, payload };
    worker.postMessage(msg);
  });
  worker.terminate();
  if (answer instanceof Error) {
    console.error(`plugin failed: ${answer.message}`);
    return 70;
  }
  if (typeof answer !== "object" || answer === null) {
    console.error("plugin answered something that is not an object");
    return 70;
  }
  const out = answer.output;
  if (typeof out === "string") await Deno.stdout.write(new TextEncoder().encode(out));
  else if (out instanceof Uint8Array) await Deno.stdout.write(out);
  if (answer.error !== undefined) console.error(String(answer.error).slice(0, 500));
  const exit = answer.exit ?? (answer.error !== undefined ? 1 : 0);
  return Number.isInteger(exit) && exit >= 0 && exit <= 255 ? exit : 1;
}

if (import.meta.main) Deno.exit(await main());
