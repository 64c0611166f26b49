/**
 * Helpers for the web listener tests: a free TCP port and a token file.
 * @module
 */

/** A free TCP port on 127.0.0.1 (bound, read, closed). */
export function freeTcpPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Writes a random token to `dir/web.token` (mode 0600); returns the token. */
export async function writeToken(dir: string): Promise<string> {
  const token = crypto.getRandomValues(new Uint8Array(24)).toHex();
  await Deno.writeTextFile(`${dir}/web.token`, token + "\n", { mode: 0o600 });
  return token;
}
