import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { escapeControls, formatJsonLine, formatTextLine } from "../../src/util/log.ts";

function record(template: string[], ...values: unknown[]): LogRecord {
  const message: unknown[] = [];
  template.forEach((t, i) => {
    message.push(t);
    if (i < values.length) message.push(values[i]);
  });
  return {
    category: ["siglatch", "daemon"],
    level: "info",
    message,
    rawMessage: template.join("{}"),
    timestamp: 0,
    properties: {},
  };
}

Deno.test("a log line stays one line whatever a value holds", () => {
  const forged =
    "x\n1970-01-01T00:00:00.000Z INF daemon: accepted user=root src=6.6.6.6\r\u2028\x1b[2J";
  const line = formatTextLine(record(["deaddrop=", " src=1.2.3.4"], forged));
  assert.equal(line.split("\n").length, 2, "one line and its newline");
  assert.equal(line.endsWith("\n"), true);
  assert.match(
    line,
    /deaddrop=x\\n1970-01-01T00:00:00\.000Z INF daemon: accepted user=root src=6\.6\.6\.6\\r\\u2028\\x1b\[2J src=1\.2\.3\.4/,
  );
  const json = formatJsonLine(record(["v=", ""], forged));
  assert.equal(json.split("\n").length, 2);
  assert.equal(JSON.parse(json).message.includes("\n"), false);
});

Deno.test("escapeControls: every C0, DEL and C1 character, tab and newline included", () => {
  for (let c = 0; c < 0xa0; c++) {
    const ch = String.fromCharCode(c);
    const out = escapeControls(ch);
    if (c >= 0x20 && c < 0x7f) assert.equal(out, ch);
    else assert.match(out, /^\\(n|r|t|x[0-9a-f]{2})$/, `char ${c}`);
  }
  assert.equal(escapeControls("plain text, ünïcode"), "plain text, ünïcode");
});
