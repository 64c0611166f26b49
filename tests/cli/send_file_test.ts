/**
 * `siglatch send --file PATH`: the payload from a file, as fragments through a real
 * daemon; a file over the limit is refused before anything is sent, with a clear error.
 */
import assert from "node:assert/strict";
import { makeFixture, runCli, startDaemon } from "../_helpers/daemon.ts";
import { MAX_REQUEST_PAYLOAD } from "../../src/client/payload_file.ts";

Deno.test("send --file sends the file as the payload (fragments), refuses one over the limit", async () => {
  const fx = await makeFixture({
    scripts: { "sum.sh": "sha256sum | cut -c1-64" },
    actions: [
      { id: 10, name: "sum", type: "exec", command: ["$DIR/sum.sh"], max_payload: 65536 },
    ],
    aliceActions: ["sum"],
  });
  const d = await startDaemon(fx.config);
  try {
    const data = new Uint8Array(MAX_REQUEST_PAYLOAD);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 8)) & 255;
    await Deno.writeFile(`${fx.dir}/big.bin`, data);
    const want = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", data)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const ok = await runCli([
      "send",
      "-p",
      fx.profile,
      "sum",
      "--file",
      `${fx.dir}/big.bin`,
      "--timeout",
      "5s",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), want, "the daemon got every byte of the file");
    await d.waitFor(/accepted user=alice action=sum/);

    await Deno.writeFile(`${fx.dir}/over.bin`, new Uint8Array(MAX_REQUEST_PAYLOAD + 1));
    const over = await runCli(["send", "-p", fx.profile, "sum", "--file", `${fx.dir}/over.bin`]);
    assert.equal(over.code, 2);
    assert.match(
      over.stderr,
      /over\.bin: 65537 bytes, larger than the 65536 bytes one request may carry/,
    );

    const missing = await runCli(["send", "-p", fx.profile, "sum", "--file", `${fx.dir}/nope`]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--file .*nope: No such file/);

    const both = await runCli([
      "send",
      "-p",
      fx.profile,
      "sum",
      "x",
      "--file",
      `${fx.dir}/big.bin`,
    ]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /one only/);
  } finally {
    await d.stop();
    await fx.cleanup();
  }
});
