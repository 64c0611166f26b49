/**
 * Where the admin socket is bound before it is renamed into place. The name is fixed (not a
 * random temporary name) because Deno's `--allow-net=unix:PATH` names exact paths only:
 * `siglatch permissions` prints this one next to the socket's own path.
 * @module
 */
import { basename, dirname, join } from "node:path";

/** The private directory (mode 0700) the socket at `path` is first bound in. */
export function bindDir(path: string): string {
  return join(dirname(path), `.${basename(path)}.bind`);
}

/** The path the socket at `path` is bound at before the rename. */
export function bindPath(path: string): string {
  return join(bindDir(path), "s");
}
