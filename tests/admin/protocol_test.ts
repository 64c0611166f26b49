import assert from "node:assert/strict";
import {
  COMMAND_NAMES,
  formatResult,
  helpText,
  parseCommand,
  splitWords,
} from "../../src/admin/protocol.ts";
import { completeLine } from "../../src/client/admin/shell.ts";

Deno.test("splitWords: quotes, escapes, unterminated quote", () => {
  assert.deepEqual(splitWords(`broadcast "down at 18:00" --level warning`).words, [
    "broadcast",
    "down at 18:00",
    "--level",
    "warning",
  ]);
  assert.deepEqual(splitWords(`a 'b c' d\\ e ""`).words, ["a", "b c", "d e", ""]);
  assert.match(splitWords(`broadcast "oops`).error!, /unterminated " quote/);
});

Deno.test("parseCommand: every command and its flags", () => {
  assert.deepEqual(parseCommand(["status"]), { ok: true, cmd: "status", args: {} });
  assert.deepEqual(parseCommand(["reload", "--keep-overrides"]), {
    ok: true,
    cmd: "reload",
    args: { keep_overrides: true },
  });
  assert.deepEqual(parseCommand(["disable", "action", "deploy", "--persist"]), {
    ok: true,
    cmd: "disable",
    args: { kind: "action", name: "deploy", persist: true },
  });
  assert.deepEqual(parseCommand(["ban", "192.0.2.1", "--for", "10m"]), {
    ok: true,
    cmd: "ban",
    args: { addr: "192.0.2.1", for: "10m" },
  });
  assert.deepEqual(parseCommand(["broadcast", "hello", "world", "--ttl=1s"]), {
    ok: true,
    cmd: "broadcast",
    args: { text: "hello world", ttl: "1s" },
  });
  assert.deepEqual(parseCommand(["logs", "--follow", "--lines", "5"]), {
    ok: true,
    cmd: "logs",
    args: { follow: true, lines: 5 },
  });
  assert.deepEqual(parseCommand(["list", "users"]), {
    ok: true,
    cmd: "list",
    args: { what: "users" },
  });
});

Deno.test("parseCommand: clear errors", () => {
  const unknown = parseCommand(["frobnicate"]);
  assert.equal(unknown.ok, false);
  if (!unknown.ok) {
    assert.match(unknown.error, /unknown command "frobnicate": commands are status, reload/);
  }
  const cases: [string[], RegExp][] = [
    [["disable", "thing", "x"], /"thing" is not one of server, action, user/],
    [["disable", "action"], /expected server\|action\|user NAME/],
    [["list", "cats"], /"cats" is not one of actions, users/],
    [["ban", "1.2.3.4", "--for"], /--for needs a value/],
    [["ban", "1.2.3.4", "--for", "1m", "--permanent"], /not both/],
    [["status", "--verbose"], /unknown option --verbose \(it takes no options\)/],
    [["broadcast"], /broadcast: expected MESSAGE/],
    [["logs", "--lines", "x"], /whole number/],
    [["status", "extra"], /unexpected "extra"/],
    [["revoke"], /revoke: expected USER \[ADDR\]/],
    [["revoke", "alice", "192.0.2.1", "x"], /revoke: expected USER \[ADDR\]/],
  ];
  for (const [words, re] of cases) {
    const r = parseCommand(words);
    assert.equal(r.ok, false, words.join(" "));
    if (!r.ok) assert.match(r.error, re);
  }
});

Deno.test("helpText lists every command", () => {
  const text = helpText();
  for (const name of COMMAND_NAMES) assert.match(text, new RegExp(`^  ${name}\\b`, "m"));
  assert.match(helpText("ban"), /ban ADDR \[--for DURATION\]/);
});

Deno.test("completeLine: commands, kinds, names, flags, flag values", () => {
  const names = { server: ["main"], action: ["ping", "deploy"], user: ["alice", "bob"] };
  assert.deepEqual(completeLine("re", names).candidates, ["reload", "revoke"]);
  assert.deepEqual(completeLine("", names).candidates.includes("status"), true);
  assert.deepEqual(completeLine("disable a", names).candidates, ["action"]);
  assert.deepEqual(completeLine("disable action de", names), { start: 15, candidates: ["deploy"] });
  assert.deepEqual(completeLine("enable user ", names).candidates, ["alice", "bob"]);
  assert.deepEqual(completeLine("list u", names).candidates, ["users"]);
  assert.deepEqual(completeLine("broadcast hi --level w", names).candidates, ["warning"]);
  assert.deepEqual(completeLine("disable action deploy --p", names).candidates, ["--persist"]);
  assert.deepEqual(completeLine("help di", names).candidates, ["disable"]);
  assert.deepEqual(completeLine("nope x", names).candidates, []);
});

Deno.test("formatResult: list and messages are readable", () => {
  const list = formatResult("list", { what: "actions" }, [
    { id: 1, name: "ping", type: "builtin", state: "enabled" },
    { id: 2, name: "deploy", type: "exec", state: "disabled (runtime)" },
  ]);
  assert.match(list, /^ID\s+NAME\s+TYPE\s+STATE$/m);
  assert.match(list, /^2\s+deploy\s+exec\s+disabled \(runtime\)$/m);
  assert.equal(
    formatResult("messages", {}, [{ level: "warning", text: "down soon" }]),
    "[warning] down soon",
  );
  assert.equal(formatResult("messages", {}, []), "(no messages)");
});

Deno.test("formatResult status shows config warnings and settings waiting for a restart", () => {
  const text = formatResult("status", {}, {
    warnings: ['/etc/s.yaml:3:5: users[1]: user "bob" has no actions'],
    restart_required: ["logging", "state"],
  });
  assert.match(text, /^needs restart {3}logging, state$/m);
  assert.match(text, /^warning {9}\/etc\/s\.yaml:3:5: users\[1\]/m);
  assert.doesNotMatch(formatResult("status", {}, {}), /needs restart|warning/);
});
