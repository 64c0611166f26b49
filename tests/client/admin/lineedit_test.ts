import assert from "node:assert/strict";
import {
  commonPrefix,
  History,
  type Key,
  KeyDecoder,
  LineBuffer,
  renderLine,
} from "../../../src/client/admin/lineedit.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("KeyDecoder: printable runs, control keys, escape sequences", () => {
  const d = new KeyDecoder();
  assert.deepEqual(d.feed(bytes("ab\x1b[A\x1b[D\x7f\t\r\x03\x04\x1b[3~\x1bOH\x1b[1;5C")), [
    { type: "char", text: "ab" },
    { type: "up" },
    { type: "left" },
    { type: "backspace" },
    { type: "tab" },
    { type: "enter" },
    { type: "interrupt" },
    { type: "eof" },
    { type: "delete" },
    { type: "home" },
    { type: "word-right" },
  ] as Key[]);
});

Deno.test("KeyDecoder: a sequence split across reads, and UTF-8 split across reads", () => {
  const d = new KeyDecoder();
  assert.deepEqual(d.feed(bytes("x\x1b[")), [{ type: "char", text: "x" }]);
  assert.deepEqual(d.feed(bytes("B")), [{ type: "down" }]);
  const e = bytes("é");
  assert.deepEqual(d.feed(e.subarray(0, 1)), []);
  assert.deepEqual(d.feed(e.subarray(1)), [{ type: "char", text: "é" }]);
  assert.deepEqual(d.feed(bytes("\r\n")), [{ type: "enter" }]);
});

Deno.test("LineBuffer: insert, move, delete, kill", () => {
  const l = new LineBuffer(new History());
  l.insert("statsu");
  l.apply({ type: "backspace" });
  l.apply({ type: "backspace" });
  l.insert("us");
  assert.equal(l.text, "status");
  l.apply({ type: "home" });
  l.apply({ type: "delete" });
  l.insert("S");
  assert.equal(l.text, "Status");
  assert.equal(l.cursor, 1);
  l.apply({ type: "end" });
  l.insert(" now");
  l.apply({ type: "kill-word" });
  assert.equal(l.text, "Status ");
  l.apply({ type: "left" });
  l.apply({ type: "kill-line" });
  assert.equal(l.text, " ");
  assert.equal(l.cursor, 0);
});

Deno.test("LineBuffer: history up/down keeps the draft", () => {
  const h = new History(["status", "list users"]);
  assert.equal(h.add("list users"), false, "no consecutive duplicates");
  assert.equal(h.add("  "), false, "no blank lines");
  const l = new LineBuffer(h);
  l.insert("dra");
  l.apply({ type: "up" });
  assert.equal(l.text, "list users");
  l.apply({ type: "up" });
  assert.equal(l.text, "status");
  l.apply({ type: "up" });
  assert.equal(l.text, "status", "stops at the oldest");
  l.apply({ type: "down" });
  l.apply({ type: "down" });
  assert.equal(l.text, "dra");
  assert.equal(l.cursor, 3);
});

Deno.test("History is bounded", () => {
  const h = new History([], 3);
  for (const x of ["a", "b", "c", "d"]) h.add(x);
  assert.deepEqual(h.entries, ["b", "c", "d"]);
});

Deno.test("renderLine puts the cursor back; commonPrefix", () => {
  const l = new LineBuffer(new History());
  l.insert("abc");
  l.apply({ type: "left" });
  assert.equal(renderLine("> ", l), "\r> abc\x1b[K\x1b[1D");
  assert.equal(commonPrefix(["disable", "dis", "disco"]), "dis");
  assert.equal(commonPrefix([]), "");
});
