/**
 * The config tells the truth: every leaf field of the schema either has an effect that a
 * named test shows, or `check` refuses it as "not implemented yet". A new field with no
 * entry in EFFECTS fails this test.
 *
 * An entry names the test file and the test (checked to exist, and the file to mention the
 * field). Fields whose effect no test shows yet are listed in GAPS with the reason: that
 * list may only shrink.
 */
import assert from "node:assert/strict";
import { loadConfigText } from "../../src/config/load.ts";
import { ConfigSchema } from "../../src/config/schema.ts";
import { leafPaths } from "./_leaves.ts";
import { ROOT } from "./_fixtures.ts";

type Effect =
  | { file: string; test: string }
  | { refused: true }
  | { note: string }
  | { gap: string };

const t = (file: string, test: string): Effect => ({ file, test });
const REFUSED: Effect = { refused: true };
const gap = (why: string): Effect => ({ gap: why });

const DAEMON = "integration/daemon_test.ts";
const POLICY = "daemon/policy_test.ts";
const RATE = "policy/ratelimit_test.ts";
const LIVE = "integration/live_ops_test.ts";
const FW = "e2e/firewall_test.ts";
const KNOCK = "e2e/knock_test.ts";
const REFUSALS = "policy: every refusal reason, first failing rule wins";
const PING = "ping builtin round trip, through the CLI client and in-process";
const EXEC = "exec action gets payload on stdin and the documented environment";
const DEADDROP = "a dead drop hands a raw datagram to its handler";
const CHALLENGE =
  "challenge-response: the client answers a cookie, and a proven address may get a larger reply";
const FW_GRANT = "e2e firewall: closed, granted (v4+v6), expires, revoke closes at once";
const FW_KEEP = "e2e firewall: keepalive extends, lapse revokes via the destructor, " +
  "max_lifetime bounds";
const STEALTH_KNOCK = "stealth/knock_netns_test.ts";
const KNOCK_STATIC =
  "knock (static, udp): no knock and a wrong order get silence; the sequence opens";
const KNOCK_DERIVED =
  "knock (derived, tcp SYN): the window's sequence opens; replayed in the next window: silence";
const KNOCK_GRACE =
  "knock (derived, grace): last window's sequence opens during the grace, not after it; two windows ago: silence";
const STEALTH_HOP = "stealth/hopping_test.ts";
const HOP =
  "hopping: the window's port answers, the old one only during the overlap; the CLI follows";
const KNOCK_E2E =
  "e2e knock: a real siglatchd in a namespace opens, keeps, expires and revokes tcp/2222";
const CLUSTER = "cluster: a ban on one node reaches the other through the shared Redis store";
const DECOYS = "stealth/decoys_test.ts";
const DECOYS_TCP_UDP = "decoys: a banner greets, a tarpit holds up to max_connections, UDP " +
  "answers are never larger than the request; hits are counted and do not ban when ban is off";
const DECOYS_RATE =
  "decoys: per_source_rate and rate cap the answers; with ban: true hits ban the source";
const DECOYS_TABLE =
  "decoys: an answer is at least half and never more than the datagram; max_sources bounds the table";
const RUN_AS = "daemon/run_as_test.ts";
const RUN_AS_DEFAULT = "execution.default_run_as names who actions without run_as run as";
const PLUGINS = "plugins/plugins_test.ts";
const PLUGINS_RUN =
  "plugins: exec, module and native run; a crash and a broken plugin do not stop the rest";
const RELAY = "actions/relay_test.ts";
const RELAY_CHAIN =
  "relay: a 3-hop chain through the CLI; the final server logs the user and the last relay's address";
const RELAY_CHECKS = "relay: loops are refused (A → A, A → B → A), and the relay's own checks hold";
const FORWARD = "actions/forward_test.ts";
const FORWARD_TEST = "forward: raw UDP passes to the inner service only for the authorised " +
  "address, until the grant ends";
const BANS = "bans expire, and repeated bans grow by the backoff up to ban_max";
const SESSIONS_FULL = "sessions: a full table refuses new sessions and keeps the open ones";
const SESSIONS_END = "sessions: idle time-out, lifetime and message count end a session";

/** Every leaf path of the schema and what shows that it matters. */
const EFFECTS: Record<string, Effect> = {
  "include": t(
    "config/include_test.ts",
    "include: lists concatenate in sorted file order; paths relative to each file",
  ),
  "servers[].name": t(POLICY, REFUSALS),
  "servers[].label": { note: "a label for people reading the config; nothing reads it" },
  "servers[].enabled": gap("no test runs a daemon with a server enabled: false"),
  "servers[].listen": t(DAEMON, PING),
  "servers[].mode": gap("insecure mode is tested in wire/request_test.ts, not through a config"),
  "servers[].key_file": t(DAEMON, PING),
  "servers[].identity_key_file": t(
    "crypto/keycert_test.ts",
    "server identity: keygen cert pins the identity; the client refuses a key the identity did not sign",
  ),
  "servers[].key_command": t(
    "crypto/key_at_rest_test.ts",
    "keys at rest: key_command reads a real pass store at start; a failing command keeps the old key on reload",
  ),
  "servers[].key_passphrase.file": t(
    "crypto/key_at_rest_test.ts",
    "keys at rest: siglatchd with a wrong passphrase exits 1 with a clear error; the right one serves",
  ),
  "servers[].key_passphrase.env": t(
    "crypto/key_at_rest_test.ts",
    "keys at rest: keygen --encrypt, passphrase file/env, wrong passphrase is clear and secret-free",
  ),
  "servers[].key_passphrase.credential": t(
    "crypto/key_at_rest_test.ts",
    "keys at rest: the passphrase from a real systemd-creds credential ($CREDENTIALS_DIRECTORY)",
  ),
  "servers[].allow_cidrs": t(DAEMON, "CIDR: server allow_cidrs drops other sources silently"),
  "servers[].deaddrops": t(DAEMON, DEADDROP),
  "servers[].knock.ports": t(STEALTH_KNOCK, KNOCK_STATIC),
  "servers[].knock.derived.secret_file": t(STEALTH_KNOCK, KNOCK_DERIVED),
  "servers[].knock.derived.range": t(STEALTH_KNOCK, KNOCK_DERIVED),
  "servers[].knock.derived.period": t(STEALTH_KNOCK, KNOCK_DERIVED),
  "servers[].knock.derived.length": t(STEALTH_KNOCK, KNOCK_DERIVED),
  "servers[].knock.derived.grace": t(STEALTH_KNOCK, KNOCK_GRACE),
  "servers[].knock.proto": t(STEALTH_KNOCK, KNOCK_DERIVED),
  "servers[].knock.window": t(STEALTH_KNOCK, KNOCK_STATIC),
  "servers[].knock.open_for": t(STEALTH_KNOCK, KNOCK_STATIC),
  "servers[].port_hopping.secret_file": t(STEALTH_HOP, HOP),
  "servers[].port_hopping.range": t(STEALTH_HOP, HOP),
  "servers[].port_hopping.period": t(STEALTH_HOP, HOP),
  "servers[].port_hopping.overlap": t(STEALTH_HOP, HOP),
  "servers[].challenge_under_load": t(
    "daemon/pipeline_test.ts",
    "limits.open_queue bounds the waiting datagrams; challenge_under_load false",
  ),
  "servers[].limits.max_datagram": REFUSED,
  "servers[].limits.clock_skew": gap(
    "the window is tested on RequestOpener/ReplayGuard (wire/), not through a config",
  ),
  "servers[].limits.recv_buffer": t(
    LIVE,
    "limits.recv_buffer sizes the socket; status shows it and kernel drops; reload re-applies",
  ),
  "servers[].limits.explain_refusals": gap("no test sets explain_refusals: false"),
  "users[].id": t(DAEMON, PING),
  "users[].name": t(
    LIVE,
    "disable/enable an action and a user at runtime; persisted survives reload",
  ),
  "users[].enabled": gap("no test runs a daemon with a user enabled: false"),
  "users[].hmac_key_file": t(DAEMON, PING),
  "users[].ed25519_public_key_file": gap("no daemon test with an Ed25519 user"),
  "users[].actions": t(DAEMON, "ACL: an action the user may not run is refused with a reason"),
  "users[].servers": t(POLICY, REFUSALS),
  "users[].allow_cidrs": t(DAEMON, "CIDR: user allowed from 127.0.0.2 only; 127.0.0.3 is refused"),
  "users[].not_before": t(POLICY, REFUSALS),
  "users[].not_after": t(POLICY, REFUSALS),
  "users[].max_uses": t(
    "daemon/usage_test.ts",
    "usage: only requests that ran count; max_uses refuses, admin shows and resets",
  ),
  "users[].max_uses_per_day": t(
    "daemon/usage_test.ts",
    "usage: max_uses_per_day refuses the day's extra use; a dry run counts nothing",
  ),
  "users[].require_challenge": t(DAEMON, CHALLENGE),
  "actions[].id": t(DAEMON, PING),
  "actions[].name": t(
    LIVE,
    "disable/enable an action and a user at runtime; persisted survives reload",
  ),
  "actions[].type": t(DAEMON, EXEC),
  "actions[].enabled": gap("no daemon test with an action enabled: false"),
  "actions[].description": gap("list_actions returns it; no test checks it"),
  "actions[].command": t(DAEMON, EXEC),
  "actions[].builtin": t(DAEMON, PING),
  "actions[].firewall.ports[].proto": t(FW, FW_GRANT),
  "actions[].firewall.ports[].port": t(FW, FW_GRANT),
  "actions[].firewall.duration": t(FW, FW_GRANT),
  "actions[].firewall.allow_payload_address": t(
    FW,
    "e2e firewall: a payload address is opened only when allowed",
  ),
  "actions[].plugin.name": t(PLUGINS, PLUGINS_RUN),
  "actions[].plugin.action": t(PLUGINS, PLUGINS_RUN),
  "actions[].plugin.config": t(PLUGINS, PLUGINS_RUN),
  "actions[].relay.to": t(RELAY, RELAY_CHAIN),
  "actions[].relay.server_public_key": t(RELAY, RELAY_CHECKS),
  "actions[].relay.timeout": t(RELAY, RELAY_CHECKS),
  "actions[].relay.max_pending": t(RELAY, RELAY_CHECKS),
  "actions[].relay.max_hops": t(RELAY, RELAY_CHECKS),
  "actions[].forward.listen": t(FORWARD, FORWARD_TEST),
  "actions[].forward.to": t(FORWARD, FORWARD_TEST),
  "actions[].forward.duration": t(FORWARD, FORWARD_TEST),
  "actions[].forward.max_flows": t(FORWARD, FORWARD_TEST),
  "actions[].run_as": t(DAEMON, "run_as nobody runs the script as uid 65534"),
  "actions[].run_as.user": gap("the run_as test uses the text form, not {user, group}"),
  "actions[].run_as.group": gap("no test checks the group an action runs as"),
  "actions[].working_dir": gap("only lint checks that it exists"),
  "actions[].timeout": t(DAEMON, "timeout kills the whole process tree, background jobs included"),
  "actions[].output_cap": t(DAEMON, "output is capped and flagged as truncated"),
  "actions[].keepalive": t(FW, FW_KEEP),
  "actions[].max_lifetime": t(FW, FW_KEEP),
  "actions[].destructor": t(FW, FW_KEEP),
  "actions[].allow_cidrs": t(POLICY, REFUSALS),
  "actions[].reply": gap("no test sets reply: false"),
  "actions[].require_ascii": t(POLICY, REFUSALS),
  "actions[].require_challenge": t(DAEMON, CHALLENGE),
  "actions[].max_payload": t(POLICY, REFUSALS),
  "deaddrops[].name": t(DAEMON, DEADDROP),
  "deaddrops[].prefix": t(DAEMON, DEADDROP),
  "deaddrops[].handler": t(DAEMON, DEADDROP),
  "deaddrops[].servers": gap("no test with a dead drop limited to other servers"),
  "deaddrops[].run_as": t(
    "daemon/deaddrops_test.ts",
    "deaddrops[].run_as names who the handler runs as",
  ),
  "rate_limit.per_source_rate": t(RATE, "per-source token bucket: burst, then the rate"),
  "rate_limit.per_source_burst": t(RATE, "per-source token bucket: burst, then the rate"),
  "rate_limit.fail_rate": t(
    RATE,
    "a source is banned once it exceeds its failure budget, and only then",
  ),
  "rate_limit.fail_burst": t(
    RATE,
    "a source is banned once it exceeds its failure budget, and only then",
  ),
  "rate_limit.ipv6_prefix": t(RATE, "reconfigure keeps bans; a changed ipv6_prefix re-keys them"),
  "rate_limit.ban_time": t(RATE, BANS),
  "rate_limit.ban_backoff": t(RATE, BANS),
  "rate_limit.ban_max": t(RATE, BANS),
  "rate_limit.permanent_after": t(
    RATE,
    "after permanent_after temporary bans the next ban is permanent",
  ),
  "rate_limit.max_tracked_sources": t(
    RATE,
    "tracking table stays under its cap with 200k sources; bans are never evicted",
  ),
  "rate_limit.pressure_fail_rate": t(
    RATE,
    "pressure mode enters above pressure_fail_rate and leaves after it calms",
  ),
  "rate_limit.nftables": t(
    "nft/bans_test.ts",
    "nft bans: SourceDefense mirrors a failure ban into the kernel and tears down on stop",
  ),
  "rate_limit.nftables_scope": gap("only the default scope (ports) is tested"),
  "rate_limit.nftables_remove_on_shutdown": gap("only the default (true) is tested"),
  "rate_limit.allow": t(
    "integration/flood_ban_test.ts",
    "deny list always drops; allow list is never banned",
  ),
  "rate_limit.deny": t(
    "integration/flood_ban_test.ts",
    "deny list always drops; allow list is never banned",
  ),
  "rate_limit.max_bans": t(
    RATE,
    "ban table is bounded: full of active bans, new bans are refused and counted",
  ),
  "rate_limit.pressure_source_rate": t(
    RATE,
    "pressure mode enters above pressure_fail_rate and leaves after it calms",
  ),
  "rate_limit.proven_ttl": t(
    RATE,
    "a proven source is not banned by spoofed garbage and skips pressure",
  ),
  "limits.open_workers": t(
    "daemon/pipeline_test.ts",
    "in-process pipeline through open workers: a ping is answered, its replay is not",
  ),
  "limits.open_queue": t(
    "daemon/pipeline_test.ts",
    "limits.open_queue bounds the waiting datagrams; challenge_under_load true",
  ),
  "limits.reply_rate": gap("no test counts reply_rate_limited"),
  "limits.sessions.max": t("daemon/sessions_test.ts", SESSIONS_FULL),
  "limits.sessions.per_user": t("daemon/sessions_test.ts", SESSIONS_FULL),
  "limits.sessions.idle": t("daemon/sessions_test.ts", SESSIONS_END),
  "limits.sessions.lifetime": t("daemon/sessions_test.ts", SESSIONS_END),
  "limits.sessions.max_messages": t("daemon/sessions_test.ts", SESSIONS_END),
  "limits.replay_cache_entries": gap(
    "tested as ReplayGuard maxEntries (wire/), not through a config",
  ),
  "keys.rotate_every": t(
    "rotation/rotation_test.ts",
    "rotation: keys.rotate_every rotates by itself, once per period",
  ),
  "keys.rotation_grace": t(
    "rotation/rotation_test.ts",
    "rotation: after keys.rotation_grace the old key gets silence",
  ),
  "keys.rotate_users_every": t(
    "rotation/user_schedule_test.ts",
    "rotation: keys.rotate_users_every rotates user keys by itself; the client follows",
  ),
  "state.path": t(DAEMON, "a replayed datagram is rejected, also after a daemon restart"),
  "state.redis": t("integration/cluster_test.ts", CLUSTER),
  "state.redis_password_file": t(
    "state/redis_auth_test.ts",
    "Redis AUTH: requirepass, an ACL user, a password file; a wrong password is refused",
  ),
  "state.redis_ca_file": t(
    "state/redis_auth_test.ts",
    "Redis TLS: rediss:// to a TLS-only server verified against state.redis_ca_file",
  ),
  "state.key_prefix": gap("the cluster test uses one prefix; none shows two prefixes apart"),
  "admin.socket": t(LIVE, "control socket: mode 0600, non-root refused, removed at stop"),
  "admin.web_listen": t(
    "web/metrics_test.ts",
    "/metrics: a Prometheus scrape parses, follows the naming rules, and a ping moves it",
  ),
  "admin.token_file": t(
    "web/metrics_test.ts",
    "/metrics with admin.token_file: a Bearer token is needed; the dashboard answers",
  ),
  "admin.tls_cert": t(
    "web/metrics_test.ts",
    "admin.tls_cert/tls_key: the web listener speaks HTTPS with the given certificate",
  ),
  "admin.tls_key": t(
    "web/metrics_test.ts",
    "admin.tls_cert/tls_key: the web listener speaks HTTPS with the given certificate",
  ),
  "logging.journal": t(
    "systemd/notify_test.ts",
    "systemd: a NOTIFY_SOCKET listener receives READY, RELOADING, READY again and STOPPING from a real daemon",
  ),
  "logging.level": gap("no test changes the level"),
  "logging.format": gap("tests read json logs; none checks text"),
  "logging.file": gap("no test logs to a file"),
  "logging.drop_log_rate": gap("no test counts suppressed drop-log lines"),
  "execution.max_concurrent": t(
    DAEMON,
    "a full action queue refuses with busy instead of queueing without bound",
  ),
  "execution.queue": t(
    DAEMON,
    "a full action queue refuses with busy instead of queueing without bound",
  ),
  "execution.grace_period": gap("the SIGTERM test keeps the default"),
  "privsep.enabled": t(
    "privsep/privsep_test.ts",
    "privsep.user names the network part's user; privsep.enabled: false keeps one root process",
  ),
  "privsep.user": t(
    "privsep/privsep_test.ts",
    "privsep.user names the network part's user; privsep.enabled: false keeps one root process",
  ),
  "execution.default_run_as": t(RUN_AS, RUN_AS_DEFAULT),
  "execution.default_run_as.user": t(RUN_AS, RUN_AS_DEFAULT),
  "execution.default_run_as.group": t(RUN_AS, RUN_AS_DEFAULT),
  "execution.deaddrop_concurrent": t(
    "daemon/deaddrops_test.ts",
    "dead drops have their own queue: a flood of them never makes a user busy",
  ),
  "execution.deaddrop_queue": t(
    "daemon/deaddrops_test.ts",
    "dead drops have their own queue: a flood of them never makes a user busy",
  ),
  "firewall.nft_priority": t(KNOCK, KNOCK_E2E),
  "firewall.nft_mark": t(KNOCK, KNOCK_E2E),
  "firewall.guard_ports[].proto": gap("the guard e2e test drives NftGrants, not the config"),
  "firewall.guard_ports[].port": gap("the guard e2e test drives NftGrants, not the config"),
  "firewall.remove_on_shutdown": t(KNOCK, KNOCK_E2E),
  "plugins.dir": t(PLUGINS, "plugins: reload adds and removes plugins"),
  "messages[].level": gap("no test loads messages from a config"),
  "messages[].text": gap("no test loads messages from a config"),
  "messages[].expires": gap("no test loads messages from a config"),
  "decoys.ports[].listen": t(DECOYS, DECOYS_TCP_UDP),
  "decoys.ports[].type": t(DECOYS, DECOYS_TCP_UDP),
  "decoys.ports[].banner": t(DECOYS, DECOYS_TCP_UDP),
  "decoys.ports[].interval": t(DECOYS, DECOYS_TCP_UDP),
  "decoys.ports[].max_connections": t(DECOYS, DECOYS_TCP_UDP),
  "decoys.rate": t(DECOYS, DECOYS_RATE),
  "decoys.per_source_rate": t(DECOYS, DECOYS_RATE),
  "decoys.max_sources": t(DECOYS, DECOYS_TABLE),
  "decoys.ban": t(DECOYS, DECOYS_RATE),
};

/** A config that sets `path` (one `[]` level per list) to `value`, on a minimal valid base. */
function configSetting(path: string, value: unknown): Record<string, unknown> {
  const config: Record<string, unknown> = {
    servers: [{ name: "s", listen: ["127.0.0.1:62201"], key_file: "k" }],
    users: [{ id: 1, name: "u", hmac_key_file: "h", actions: ["a"] }],
    actions: [{ id: 1, name: "a", type: "builtin", builtin: "ping" }],
  };
  const keys = path.replaceAll("[]", ".0").split(".");
  let at: Record<string, unknown> = config;
  for (const [i, key] of keys.entries()) {
    if (i === keys.length - 1) {
      at[key] = value;
      break;
    }
    at[key] ??= /^\d+$/.test(keys[i + 1]) ? [{}] : {};
    at = at[key] as Record<string, unknown>;
  }
  return config;
}

const leaves = leafPaths(ConfigSchema);

Deno.test("every field: each leaf of the schema has an entry (add one for a new field)", () => {
  const missing = leaves.map((l) => l.path).filter((p) => !(p in EFFECTS));
  assert.deepEqual(missing, [], "fields with no entry in EFFECTS");
  const stale = Object.keys(EFFECTS).filter((p) => !leaves.some((l) => l.path === p));
  assert.deepEqual(stale, [], "entries for fields the schema no longer has");
  assert.ok(leaves.length >= 100, `${leaves.length} leaves`);
});

Deno.test("every field: each named test exists and its file (or its fixture) names the field", async () => {
  const fixture = await Deno.readTextFile(`${ROOT}tests/_helpers/daemon.ts`);
  const problems: string[] = [];
  const texts = new Map<string, string>();
  for (const [path, effect] of Object.entries(EFFECTS)) {
    if (!("file" in effect)) continue;
    let text = texts.get(effect.file);
    if (text === undefined) {
      text = await Deno.readTextFile(`${ROOT}tests/${effect.file}`);
      texts.set(effect.file, text);
    }
    if (
      ![`"${effect.test}"`, `\`${effect.test}\``, `'${effect.test}'`].some((q) => text.includes(q))
    ) {
      problems.push(`${path}: no test named "${effect.test}" in tests/${effect.file}`);
    }
    // The daemon fixture (makeFixture) writes the config these tests run on.
    const key = new RegExp(`\\b${path.split(".").at(-1)!.replace("[]", "")}\\b`);
    if (!key.test(text) && !(text.includes("makeFixture") && key.test(fixture))) {
      problems.push(`${path}: tests/${effect.file} (and its fixture) never name it`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("every field: each refused field is refused by the loader as not implemented", async () => {
  const refused = Object.entries(EFFECTS).filter(([, e]) => "refused" in e).map(([p]) => p);
  assert.deepEqual(refused, leaves.filter((l) => l.refused).map((l) => l.path));
  for (const path of refused) {
    const yaml = JSON.stringify(configSetting(path, 1), null, 1);
    const res = await loadConfigText(yaml, "c.yaml");
    assert.equal(res.ok, false, path);
    const shown = path.replaceAll("[]", "[0]");
    const finding = res.findings.find((f) => f.path === shown);
    assert.ok(finding, `${path}: ${JSON.stringify(res.findings)}`);
    assert.match(finding.message, /^not implemented yet \((issue \d+|no issue yet)/, path);
    assert.ok(finding.line > 1, `${path} is located at its line`);
  }
});

Deno.test("every field: the gaps are written down (this list may only shrink)", () => {
  const gaps = Object.entries(EFFECTS).filter(([, e]) => "gap" in e).map(([p]) => p);
  assert.ok(gaps.length <= 30, `${gaps.length} gaps: a new field needs a test, not a gap`);
});
