/**
 * A table of bad configs: each must produce an error at the exact line:col and field
 * path, with a message that says what is wrong.
 */
import assert from "node:assert/strict";
import { formatFinding, loadConfigText } from "../../src/config/load.ts";
import { SERVER } from "./_fixtures.ts";

interface Case {
  name: string;
  yaml: string;
  /** `line:col` of the expected error. */
  at: string;
  path: string;
  message: RegExp;
}

const USER = `users:
  - id: 1
    name: alice
    hmac_key_file: a.key
    actions: [ping]
`;
const PING = `actions:
  - { id: 1, name: ping, type: builtin, builtin: ping }
`;

const CASES: Case[] = [
  {
    name: "per-server rate_limit moved to the top level",
    yaml: SERVER + `    rate_limit: { fail_rate: 1 }\n`,
    at: "5:5",
    path: "servers[0].rate_limit",
    message: /^"rate_limit" moved to top-level `rate_limit` .*did you mean `rate_limit`\?$/,
  },
  {
    name: "per-server reply_rate moved to the top-level limits",
    yaml: SERVER + `    limits:\n      clock_skew: 30s\n      reply_rate: 5\n`,
    at: "7:7",
    path: "servers[0].limits.reply_rate",
    message: /"reply_rate" moved to top-level `limits.reply_rate`/,
  },
  {
    name: "per-server replay_cache_entries moved to the top-level limits",
    yaml: SERVER + `    limits: { replay_cache_entries: 5000 }\n`,
    at: "5:15",
    path: "servers[0].limits.replay_cache_entries",
    message: /"replay_cache_entries" moved to top-level `limits.replay_cache_entries`/,
  },
  {
    name: "knock needs either static ports or derived",
    yaml: SERVER + `    knock: { window: 5s }\n`,
    at: "5:12",
    path: "servers[0].knock",
    message: /knock needs either ports \(static\) or derived/,
  },
  {
    name: "action type relay needs its relay: mapping",
    yaml: `actions:\n  - id: 1\n    name: r\n    type: relay\n`,
    at: "2:5",
    path: "actions[0].relay",
    message: /type relay needs relay: \{to: HOST:PORT/,
  },
  {
    name: "admin.web_listen on a non-loopback address without TLS is refused",
    yaml: `admin:\n  web_listen: "192.0.2.1:8089"\n  token_file: t\n`,
    at: "2:15",
    path: "admin.web_listen",
    message: /is not a loopback address.*set tls_cert and tls_key/,
  },
  {
    name: "listen port out of range",
    yaml: `servers:\n  - name: s\n    listen: ["127.0.0.1:1", "[::1]:99999"]\n    key_file: k\n`,
    at: "3:29",
    path: "servers[0].listen[1]",
    message: /^port 99999 is out of range: expected 1\.\.65535$/,
  },
  {
    name: "bad CIDR",
    yaml: SERVER + `    allow_cidrs: ["10.0.0.0/8", "10.0.0.0/33"]\n`,
    at: "5:33",
    path: "servers[0].allow_cidrs[1]",
    message: /"10\.0\.0\.0\/33" is not a CIDR/,
  },
  {
    name: "unknown key with suggestion",
    yaml: `servers:\n  - name: s\n    lsten: ["127.0.0.1:1"]\n    key_file: k\n`,
    at: "3:5",
    path: "servers[0].lsten",
    message: /unknown key "lsten": did you mean "listen"\?/,
  },
  {
    name: "missing required field points at the parent mapping",
    yaml: `servers:\n  - name: s\n    key_file: k\n`,
    at: "2:5",
    path: "servers[0]",
    message: /missing required field "listen"/,
  },
  {
    name: "a server without key_file or key_command",
    yaml: `servers:\n  - name: s\n    listen: ["127.0.0.1:1"]\n`,
    at: "2:5",
    path: "servers[0]",
    message: /needs exactly one of key_file, key_command/,
  },
  {
    name: "wrong type",
    yaml: SERVER + `    enabled: "yes"\n`,
    at: "5:14",
    path: "servers[0].enabled",
    message: /expected true or false, got "yes"/,
  },
  {
    name: "bad duration",
    yaml: SERVER + `    limits: { clock_skew: 30 seconds }\n`,
    at: "5:27",
    path: "servers[0].limits.clock_skew",
    message: /"30 seconds" is not a duration/,
  },
  {
    name: "bad enum with suggestion",
    yaml: SERVER + `    mode: securre\n`,
    at: "5:11",
    path: "servers[0].mode",
    message: /"securre" is not one of: secure, insecure \(did you mean "secure"\?\)/,
  },
  {
    name: "exec without command",
    yaml: `actions:\n  - id: 1\n    name: deploy\n    type: exec\n`,
    at: "2:5",
    path: "actions[0].command",
    message: /type exec needs command/,
  },
  {
    name: "user without key",
    yaml: `users:\n  - id: 1\n    name: bob\n`,
    at: "2:5",
    path: "users[0]",
    message: /needs hmac_key_file or ed25519_public_key_file/,
  },
  {
    name: "duplicate user id",
    yaml: PING + USER + `  - { id: 1, name: bob, hmac_key_file: b.key, actions: [ping] }\n`,
    at: "8:11",
    path: "users[1].id",
    message: /duplicate user id 1: already used by users\[0\]\.id at t\.yaml:4:9/,
  },
  {
    name: "unknown action reference",
    yaml: PING + USER.replace("[ping]", "[ping, reboot]"),
    at: "7:21",
    path: "users[0].actions[1]",
    message: /unknown action "reboot"/,
  },
  {
    name: "not_after before not_before",
    yaml: PING + USER +
      `    not_before: 2030-01-01T00:00:00Z\n    not_after: 2029-01-01T00:00:00Z\n`,
    at: "9:16",
    path: "users[0].not_after",
    message: /not_after must be later than not_before/,
  },
  {
    name: "negative id",
    yaml: `users:\n  - id: -3\n    name: bob\n    hmac_key_file: b\n`,
    at: "2:9",
    path: "users[0].id",
    message: /^-3 is out of range: expected 1\.\.4294967295$/,
  },
  {
    name: "fractional id",
    yaml: `users:\n  - id: 1.5\n    name: bob\n    hmac_key_file: b\n`,
    at: "2:9",
    path: "users[0].id",
    message: /expected an integer, got 1\.5/,
  },
  {
    name: "firewall port 0 in a flow mapping",
    yaml: `actions:\n  - id: 1\n    name: ssh\n    type: firewall\n    firewall:\n` +
      `      ports: [{ proto: tcp, port: 0 }]\n`,
    at: "6:35",
    path: "actions[0].firewall.ports[0].port",
    message: /^0 is out of range: expected 1\.\.65535$/,
  },
  {
    name: "bad proto",
    yaml: `actions:\n  - id: 1\n    name: ssh\n    type: firewall\n    firewall:\n` +
      `      ports: [{ proto: tcpp, port: 22 }]\n`,
    at: "6:24",
    path: "actions[0].firewall.ports[0].proto",
    message: /"tcpp" is not one of: tcp, udp \(did you mean "tcp"\?\)/,
  },
  {
    name: "bad name",
    yaml: `servers:\n  - name: my server\n    listen: ["127.0.0.1:1"]\n    key_file: k\n`,
    at: "2:11",
    path: "servers[0].name",
    message: /expected a name of 1-64 letters/,
  },
  {
    name: "unknown top-level key",
    yaml: `server:\n  - name: s\n`,
    at: "1:1",
    path: "server",
    message: /unknown key "server": did you mean "servers"\?/,
  },
  {
    name: "section of the wrong type",
    yaml: `users: {}\n`,
    at: "1:8",
    path: "users",
    message: /expected a list, got a mapping/,
  },
  {
    name: "empty listen list",
    yaml: `servers:\n  - name: s\n    listen: []\n    key_file: k\n`,
    at: "3:13",
    path: "servers[0].listen",
    message: /a server needs at least one listen address/,
  },
  {
    name: "IPv4 in brackets",
    yaml: `servers:\n  - name: s\n    listen: ["[127.0.0.1]:5"]\n    key_file: k\n`,
    at: "3:14",
    path: "servers[0].listen[0]",
    message: /brackets are for IPv6 addresses/,
  },
  {
    name: "host name instead of address",
    yaml: `servers:\n  - name: s\n    listen:\n      - localhost:62201\n    key_file: k\n`,
    at: "4:9",
    path: "servers[0].listen[0]",
    message: /"localhost" is not an IP address/,
  },
  {
    name: "bad log level",
    yaml: `logging:\n  level: verbose\n`,
    at: "2:10",
    path: "logging.level",
    message: /"verbose" is not one of: trace, debug, info, warning, error/,
  },
  {
    name: "bad redis URL",
    yaml: `state:\n  redis: http://127.0.0.1:6379\n`,
    at: "2:10",
    path: "state.redis",
    message: /expected redis:\/\/\[USER\[:PASSWORD\]@\]HOST:PORT\/DB \(rediss:\/\/ for TLS\)/,
  },
  {
    name: "redis URL with a query string (ioredis would take it as options)",
    yaml: `state:\n  redis: redis://127.0.0.1:6379/0?tls=false\n`,
    at: "2:10",
    path: "state.redis",
    message: /no query string/,
  },
  {
    name: "bad timestamp",
    yaml: `users:\n  - id: 1\n    name: bob\n    hmac_key_file: b\n    not_after: tomorrow\n`,
    at: "5:16",
    path: "users[0].not_after",
    message: /"tomorrow" is not a timestamp/,
  },
  {
    name: "unknown builtin with suggestion",
    yaml: `actions:\n  - { id: 1, name: p, type: builtin, builtin: pong }\n`,
    at: "2:47",
    path: "actions[0].builtin",
    message: /"pong" is not one of: .*\(did you mean "ping"\?\)/,
  },
  {
    name: "dead drop handler that is not exec",
    yaml: PING + USER + `deaddrops:\n  - { name: d, prefix: "X:", handler: ping }\n`,
    at: "9:39",
    path: "deaddrops[0].handler",
    message: /must be an exec action; "ping" is builtin/,
  },
  {
    name: "dead drop prefix with a non-hex digit",
    yaml: `actions:\n  - { id: 1, name: job, type: exec, command: [/bin/true] }\n` +
      USER.replace("[ping]", "[job]") +
      `deaddrops:\n  - { name: d, prefix: "hex:zz", handler: job }\n`,
    at: "9:24",
    path: "deaddrops[0].prefix",
    message: /"hex:zz" is not hex/,
  },
  {
    name: "dead drop prefix with an odd number of hex digits",
    yaml: `actions:\n  - { id: 1, name: job, type: exec, command: [/bin/true] }\n` +
      USER.replace("[ping]", "[job]") +
      `deaddrops:\n  - { name: d, prefix: "hex:0a0", handler: job }\n`,
    at: "9:24",
    path: "deaddrops[0].prefix",
    message: /"hex:0a0" is not hex/,
  },
  {
    name: "destructor revoke on an exec action",
    yaml: `actions:\n  - id: 1\n    name: job\n    type: exec\n    command: [/bin/true]\n` +
      `    keepalive: 1m\n    destructor: revoke\n` + USER.replace("[ping]", "[job]"),
    at: "7:17",
    path: "actions[0].destructor",
    message: /destructor "revoke" only undoes a firewall grant/,
  },
  {
    name: "duplicate action name",
    yaml: `actions:\n  - { id: 1, name: ping, type: builtin, builtin: ping }\n` +
      `  - { id: 2, name: ping, type: builtin, builtin: version }\n` + USER,
    at: "3:20",
    path: "actions[1].name",
    message: /duplicate action name "ping"/,
  },
  {
    name: "same listen address on two servers",
    yaml: SERVER + `  - name: t\n    listen: ["127.0.0.1:62201"]\n    key_file: k\n`,
    at: "6:14",
    path: "servers[1].listen[0]",
    message: /127\.0\.0\.1:62201 is already listened on by servers\[0\]\.listen\[0\]/,
  },
  {
    name: "unknown key inside run_as",
    yaml: `actions:\n  - id: 1\n    name: job\n    type: exec\n    command: [/bin/true]\n` +
      `    run_as: { user: nobody, grp: nogroup }\n`,
    at: "6:29",
    path: "actions[0].run_as.grp",
    message: /unknown key "grp": did you mean "group"\?/,
  },
  {
    name: "max_uses zero",
    yaml: `users:\n  - id: 1\n    name: bob\n    hmac_key_file: b\n    max_uses: 0\n`,
    at: "5:15",
    path: "users[0].max_uses",
    message: /0 is out of range: expected a number greater than 0/,
  },
  {
    name: "unknown user server reference",
    yaml: SERVER + PING + USER + `    servers: [s, nope]\n`,
    at: "12:18",
    path: "users[0].servers[1]",
    message: /unknown server "nope"/,
  },
  {
    name: "missing action type",
    yaml: `actions:\n  - id: 1\n    name: x\n`,
    at: "2:5",
    path: "actions[0]",
    message: /missing required field "type"/,
  },
];

for (const c of CASES) {
  Deno.test(`bad config: ${c.name}`, async () => {
    const res = await loadConfigText(c.yaml, "t.yaml");
    assert.equal(res.ok, false, `expected errors for:\n${c.yaml}`);
    const errors = res.findings.filter((f) => f.severity === "error");
    const shown = errors.map((f) => formatFinding(f)).join("\n");
    const hit = errors.find((f) => f.path === c.path && c.message.test(f.message));
    assert.ok(hit, `no error at ${c.path} matching ${c.message}; got:\n${shown}`);
    assert.equal(`${hit.line}:${hit.col}`, c.at, `position of ${c.path}; got:\n${shown}`);
    assert.equal(hit.file, "t.yaml");
    assert.ok(formatFinding(hit).startsWith(`t.yaml:${c.at}: ${c.path}: `));
  });
}

Deno.test("bad config: every error is reported at once", async () => {
  const yaml = `servers:
  - name: s
    listen: ["127.0.0.1:99999", "bad"]
    key_file: k
    mode: x
users:
  - id: 0
    name: bob
actions:
  - { id: 1, name: p, type: exec }
`;
  const res = await loadConfigText(yaml, "t.yaml");
  assert.equal(res.ok, false);
  const got = res.findings.map((f) => `${f.line}:${f.col} ${f.path}`);
  assert.deepEqual(got, [
    "3:14 servers[0].listen[0]",
    "3:33 servers[0].listen[1]",
    "5:11 servers[0].mode",
    "7:5 users[0]",
    "7:9 users[0].id",
    "10:5 actions[0].command",
  ]);
});

Deno.test("bad config: at least 25 cases in the table", () => {
  assert.ok(CASES.length >= 25);
});
