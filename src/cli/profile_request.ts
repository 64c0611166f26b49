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
import { applyKeyNotice, applyUserKeyNotice } from "../client/key_notice.ts";
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

/**
 * Knocks when profile `p` says so and returns the port to send to (the current hop port with
 * `port_hopping`, else `p.port`).
 */
export async function knockAndPort(p: Profile): Promise<number> {
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
  return port;
}

/** The request options a profile decides (where, as whom, through which relays). */
export type ProfileTarget = Pick<
  SendOptions,
  | "host"
  | "port"
  | "serverPublic"
  | "userId"
  | "auth"
  | "bind"
  | "insecure"
  | "allowAddress"
  | "via"
>;

/**
 * The request options profile `p` decides, with `keys`: its relay hops (refused together with
 * knocking or port hopping), then the knock and the port to send to ({@linkcode knockAndPort}).
 */
export async function profileTarget(p: Profile, keys: ClientKeys): Promise<ProfileTarget> {
  const via = p.via && profileHops(p.via, p.actions ?? {});
  if (via && (p.knock || p.port_hopping)) {
    throw new CliError("via: knocking and port hopping are not supported through relays");
  }
  const port = await knockAndPort(p);
  return {
    host: p.host,
    port,
    serverPublic: keys.serverPublic,
    userId: p.user_id,
    auth: keys.auth,
    bind: p.bind,
    insecure: p.insecure,
    allowAddress: p.allow_ip,
    via,
  };
}

/**
 * Sends `request` as profile `p` with `keys` (network errors are thrown as they are). A reply
 * that announces a rotated server key rewrites the profile (src/client/key_notice.ts).
 */
export async function sendAsProfile(
  p: Profile,
  keys: ClientKeys,
  request: ProfileRequest,
): Promise<SendResult> {
  const res = await sendRequest({ ...await profileTarget(p, keys), ...request });
  if (res.body?.key !== undefined) {
    const r = await applyKeyNotice(p, keys.serverPublic, res.body.key).catch((err) => ({
      applied: false as const,
      reason: err instanceof Error ? err.message : String(err),
    }));
    if (r?.applied) {
      console.error(`server key rotated: ${r.profile} now has ${r.key} (old one in ${r.backup})`);
    } else if (r) console.error(`server key rotated, profile NOT updated: ${r.reason}`);
  }
  if (res.body?.user_key !== undefined) {
    const r = await applyUserKeyNotice(p, res.body.user_key).catch((err) => ({
      applied: false as const,
      reason: err instanceof Error ? err.message : String(err),
    }));
    if (r?.applied) {
      console.error(`user key rotated: ${r.profile} holds the new key (old one in ${r.backup})`);
    } else if (r) console.error(`user key rotated, key file NOT updated: ${r.reason}`);
  }
  return res;
}
