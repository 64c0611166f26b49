/**
 * What `send`, `open` and `messages` share: the profile's keys loaded with CLI errors, and a
 * request addressed and signed as the profile says (server, user, keys, bind address, mode).
 * @module
 */
import { type ClientKeys, loadProfileKeys } from "../client/keys.ts";
import type { Profile } from "../client/profile.ts";
import { type SendOptions, sendRequest, type SendResult } from "../client/send.ts";
import { CliError } from "./errors.ts";
import { knock } from "../client/knock.ts";
import { readHmacKey } from "../crypto/keyfile.ts";
import { hopPort, windowOf } from "../stealth/derive.ts";
import { profileHops } from "../client/relay.ts";

/** The request options a profile does not decide. */
export type ProfileRequest = Omit<
  SendOptions,
  "host" | "port" | "serverPublic" | "userId" | "auth" | "bind" | "insecure"
>;

/** Loads the keys profile `p` names; a failure is a {@linkcode CliError} naming the file or field. */
export async function cliProfileKeys(p: Profile): Promise<ClientKeys> {
  try {
    return await loadProfileKeys(p);
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
}

/** Sends `request` as profile `p` with `keys` (network errors are thrown as they are). */
export async function sendAsProfile(
  p: Profile,
  keys: ClientKeys,
  request: ProfileRequest,
): Promise<SendResult> {
  const via = p.via && profileHops(p.via, p.actions ?? {});
  if (via && (p.knock || p.port_hopping)) {
    throw new CliError("via: knocking and port hopping are not supported through relays");
  }
  if (p.knock) {
    const k = p.knock;
    const secret = k.secret_file ? await readHmacKey(k.secret_file) : undefined;
    await knock(
      p.host,
      {
        ports: k.ports,
        derived: secret && { secret, length: k.length, range: k.range, periodMs: k.period * 1000 },
        proto: k.proto,
        gapMs: k.gap_ms,
      },
      p.user_id,
      { bind: p.bind },
    );
  }
  let port = p.port;
  if (p.port_hopping) {
    const h = p.port_hopping;
    const secret = await readHmacKey(h.secret_file);
    port = hopPort(secret, windowOf(Date.now(), h.period * 1000), h.range);
  }
  return await sendRequest({
    host: p.host,
    port,
    serverPublic: keys.serverPublic,
    userId: p.user_id,
    auth: keys.auth,
    bind: p.bind,
    insecure: p.insecure,
    allowAddress: p.allow_ip,
    via,
    ...request,
  });
}
