/** `OutStream`: stdout and stderr keep the order in which their chunks were read. */
import assert from "node:assert/strict";
import { OutStream, type StreamSink } from "../../src/daemon/session_stream.ts";
import { MAX_SESSION_BODY } from "../../src/wire/session.ts";

/** A sink that acknowledges nothing by itself and records every event sent. */
function recorder() {
  const sent = new Map<number, { text: string; stderr: boolean }>();
  let done = -1;
  const sink: StreamSink = {
    event: (seq, chunk, stderr) => sent.set(seq, { text: new TextDecoder().decode(chunk), stderr }),
    done: (n) => done = n,
    abandoned: () => {},
    released: () => {},
  };
  return { sink, sent, done: () => done };
}

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("OutStream: events follow the read order across stdout and stderr", () => {
  const r = recorder();
  const s = new OutStream(1, r.sink, Date.now);
  try {
    s.push(1, enc("out 1\n"));
    s.push(2, enc("err 1\n"));
    s.push(2, enc("err 2\n"));
    s.push(1, enc("out 2\n"));
    s.push(2, enc("err 3\n"));
    assert.equal(s.end(), undefined, "output of both fds is never carried by the result");
    const events = [...r.sent.entries()].sort((a, b) => a[0] - b[0]).map(([, e]) => e);
    assert.deepEqual(events, [
      { text: "out 1\n", stderr: false },
      { text: "err 1\nerr 2\n", stderr: true },
      { text: "out 2\n", stderr: false },
      { text: "err 3\n", stderr: true },
    ]);
    s.ack(events.length);
    assert.equal(r.done(), 4);
  } finally {
    s.stop();
  }
});

Deno.test("OutStream: a long run is cut into full events before the next fd's output", () => {
  const r = recorder();
  const s = new OutStream(1, r.sink, Date.now);
  try {
    const big = new Uint8Array(MAX_SESSION_BODY * 2 + 10).fill(0x61);
    s.push(1, big.subarray(0, 100));
    s.push(1, big.subarray(100));
    s.push(2, enc("E"));
    s.push(1, enc("tail"));
    s.end();
    const events = [...r.sent.entries()].sort((a, b) => a[0] - b[0]).map(([, e]) => e);
    assert.deepEqual(events.map((e) => [e.text.length, e.stderr]), [
      [MAX_SESSION_BODY, false],
      [MAX_SESSION_BODY, false],
      [10, false],
      [1, true],
      [4, false],
    ]);
  } finally {
    s.stop();
  }
});

Deno.test("OutStream: small output of one fd still goes with the result", () => {
  const r = recorder();
  const s = new OutStream(1, r.sink, Date.now);
  s.push(2, enc("only "));
  s.push(2, enc("stderr"));
  const inline = s.end();
  assert.ok(inline);
  assert.equal(new TextDecoder().decode(inline.stderr), "only stderr");
  assert.equal(inline.stdout.length, 0);
  assert.equal(r.sent.size, 0);
});
