/**
 * Alice's side of a rotation test kept apart from the server's: her profile and key copied
 * into `<fixture>/client`, so that what the client rewrites never touches the server's files.
 * @module
 */
import type { Fixture } from "../_helpers/daemon.ts";

/** Copies alice's key (mode 0600) and profile into `<fx.dir>/client`; returns their paths. */
export async function clientCopy(
  fx: Fixture,
): Promise<{ client: string; profile: string; keyFile: string }> {
  const client = `${fx.dir}/client`;
  await Deno.mkdir(client);
  await Deno.copyFile(`${fx.dir}/alice.hmac`, `${client}/alice.hmac`);
  await Deno.chmod(`${client}/alice.hmac`, 0o600);
  await Deno.copyFile(fx.profile, `${client}/alice.yaml`);
  return { client, profile: `${client}/alice.yaml`, keyFile: `${client}/alice.hmac` };
}
