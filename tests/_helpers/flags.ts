/**
 * The Deno flags the shipped tasks run siglatch with (`deno.json`), for every test and bench
 * that starts the daemon or the CLI as a child process.
 * @module
 */

/** Permission flags of `deno task siglatch` (libc FFI for SO_RCVBUF included). */
export const PERMISSION_FLAGS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-run",
  "--allow-env",
  "--allow-sys",
  "--allow-ffi",
];

/** V8 flags of the shipped tasks (a 1 MB young generation keeps RSS down under floods). */
export const V8_FLAGS: readonly string[] = [
  "--v8-flags=--max-semi-space-size=1,--memory-saver-mode",
];

/** `deno run` with the shipped permission and V8 flags (append the script and its args). */
export const RUN_FLAGS: readonly string[] = ["run", ...PERMISSION_FLAGS, ...V8_FLAGS];
