/**
 * The child process a native plugin runs in: loads the shared object with `Deno.dlopen`,
 * calls `siglatch_action` once with the payload and writes its output to stdout. A crash
 * (segfault, abort) ends this process only; the exec runner that started it (run_as,
 * timeout, output cap, cleared environment) reports the signal.
 *
 * ABI (docs/PLUGINS.md): `int siglatch_action(const uint8_t *req, size_t len,
 * uint8_t *out, size_t *out_len)`; `*out_len` holds the capacity of `out` on entry and the
 * bytes written on return; the result is the exit code (0 success). The request's facts
 * are in the environment (`SIGLATCH_*`, `SIGLATCH_PLUGIN_CONFIG` as JSON).
 *
 * Usage: native_host.ts ENTRY OUTPUT_CAPACITY
 * @module
 */

/** Bytes read from stdin at most (an action's max_payload is at most 64 KiB). */
const MAX_STDIN = 65536;

async function readStdin(): Promise<Uint8Array<ArrayBuffer>> {
  const buf = new Uint8Array(MAX_STDIN + 1);
  let n = 0;
  for await (const c of Deno.stdin.readable) {
    if (n + c.length > MAX_STDIN) throw new Error("stdin longer than 64 KiB");
    buf.set(c, n);
    n += c.length;
  }
  return buf.slice(0, n);
}

async function main(): Promise<number> {
  const [entry, capText] = Deno.args;
  const capacity = Math.max(1, Math.min(Number(capText) || 65536, 16 * 1024 * 1024));
  const req = await readStdin();
  const lib = Deno.dlopen(entry, {
    siglatch_action: { parameters: ["buffer", "usize", "buffer", "buffer"], result: "i32" },
  });
  const out = new Uint8Array(capacity);
  const outLen = new BigUint64Array([BigInt(capacity)]);
  const rc = lib.symbols.siglatch_action(req, BigInt(req.length), out, outLen);
  const written = outLen[0];
  if (written > BigInt(capacity)) {
    console.error(`plugin wrote ${written} bytes into a ${capacity}-byte buffer`);
    return 70;
  }
  await Deno.stdout.write(out.subarray(0, Number(written)));
  return rc >= 0 && rc <= 255 ? rc : 1;
}

if (import.meta.main) Deno.exit(await main());
