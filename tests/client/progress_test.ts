import assert from "node:assert/strict";
import fc from "fast-check";
import {
  parseProgress,
  type Progress,
  ProgressFilter,
  ProgressView,
} from "../../src/client/progress.ts";

async function run(chunks: string[]): Promise<{ out: string; reports: Progress[] }> {
  const parts: Uint8Array[] = [];
  const reports: Progress[] = [];
  const f = new ProgressFilter((b) => void parts.push(b.slice()), (p) => reports.push(p));
  for (const c of chunks) await f.write(new TextEncoder().encode(c));
  await f.end();
  return { out: parts.map((p) => new TextDecoder().decode(p)).join(""), reports };
}

Deno.test("progress: lines are taken out of the output, across chunk boundaries", async () => {
  const r = await run([
    "start\nSIGLATCH-PRO",
    "GRESS 1/3 copying\nhalf a line ",
    "and the rest\nSIGLATCH-PROGRESS 3/3\n",
    "SIGLATCH-PROGRESS 4/3 bad\nSIGLATCH-PROGRESS? no\nend",
  ]);
  assert.equal(
    r.out,
    "start\nhalf a line and the rest\nSIGLATCH-PROGRESS 4/3 bad\nSIGLATCH-PROGRESS? no\nend",
  );
  assert.deepEqual(r.reports, [{ n: 1, m: 3, text: "copying" }, { n: 3, m: 3, text: "" }]);
  assert.equal(parseProgress("SIGLATCH-PROGRESS 0/0"), null);
  assert.deepEqual(parseProgress("SIGLATCH-PROGRESS 2/5 x y\r"), { n: 2, m: 5, text: "x y" });
});

Deno.test("progress: output without progress lines passes unchanged, however it is cut", async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ maxLength: 300 }), fc.array(fc.nat(300)), async (text, cuts) => {
      fc.pre(!text.includes("SIGLATCH-PROGRESS "));
      const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      const chunks: string[] = [];
      let last = 0;
      for (const p of points) {
        chunks.push(text.slice(last, p));
        last = p;
      }
      chunks.push(text.slice(last));
      assert.equal((await run(chunks)).out, text);
    }),
  );
});

Deno.test("progress: a bar on a terminal, plain lines otherwise", () => {
  let tty = "";
  const v = new ProgressView(true, (t) => tty += t, 10);
  v.show({ n: 1, m: 4, text: "a\x1bb" });
  v.show({ n: 4, m: 4, text: "" });
  v.done();
  assert.equal(tty, "\r\x1b[2K[###-------]  25% 1/4 a?b\r\x1b[2K[##########] 100% 4/4 \n");
  let plain = "";
  const p = new ProgressView(false, (t) => plain += t);
  p.show({ n: 1, m: 4, text: "copying" });
  p.done();
  assert.equal(plain, "progress 1/4 copying\n");
});
