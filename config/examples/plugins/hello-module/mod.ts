/**
 * A module plugin: this file is the Worker's main module. It gets one message
 * ({version, action, config, env, payload}) and posts one answer ({output, exit, error}).
 * Its Deno permissions are exactly those of plugin.json: reading allowed.txt, nothing else.
 * @module
 */
interface Msg {
  version: number;
  action: string;
  config: Record<string, unknown>;
  env: Record<string, string>;
  payload: Uint8Array;
}

self.onmessage = async (e: MessageEvent<Msg>) => {
  const { action, config, env, payload } = e.data;
  if (action === "reverse") {
    const text = new TextDecoder().decode(payload);
    self.postMessage({ output: `${env.SIGLATCH_USER}: ${[...text].reverse().join("")}` });
    return;
  }
  // "read": the file named in the action's config (relative to this folder).
  const file = String(config.file ?? "allowed.txt");
  const path = file.startsWith("/") ? file : new URL(file, import.meta.url).pathname;
  try {
    self.postMessage({ output: await Deno.readTextFile(path) });
  } catch (err) {
    const name = err instanceof Error ? err.name : "Error";
    self.postMessage({ exit: 3, error: `${name}: ${String(err)}` });
  }
};
