import assert from "node:assert/strict";
import { findEntry, parseDb, readDb, resolveRunAs, splitRunAs } from "../../src/util/sysdb.ts";

const PASSWD = "# comment\nroot:x:0:0::/root:/bin/sh\n\nsvc:x:900:901::/:/bin/false\n" +
  "broken line\nbad:x:notanumber:0::/:/bin/false\nnogid:x:905:\n";
const GROUP = "root:x:0:\nsvc:x:901:\nops:x:950:svc\n";

async function withDb(fn: (passwd: string, group: string) => void | Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/passwd`, PASSWD);
    await Deno.writeTextFile(`${dir}/group`, GROUP);
    await fn(`${dir}/passwd`, `${dir}/group`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseDb keeps name, id and primary gid; skips comments and malformed lines", () => {
  assert.deepEqual(parseDb(PASSWD), [
    { name: "root", id: 0, gid: 0 },
    { name: "svc", id: 900, gid: 901 },
    { name: "nogid", id: 905 },
  ]);
  assert.deepEqual(parseDb(GROUP).map((e) => e.name), ["root", "svc", "ops"]);
});

Deno.test("findEntry matches a name first, then an all-digit id", () => {
  const db = parseDb(PASSWD);
  assert.equal(findEntry(db, "svc")?.id, 900);
  assert.equal(findEntry(db, "900")?.name, "svc");
  assert.equal(findEntry(db, "ghost"), undefined);
  assert.equal(findEntry(db, "9x"), undefined);
});

Deno.test("splitRunAs splits at the first colon and passes objects through", () => {
  assert.deepEqual(splitRunAs("svc"), { user: "svc" });
  assert.deepEqual(splitRunAs("svc:ops"), { user: "svc", group: "ops" });
  assert.deepEqual(splitRunAs("svc:"), { user: "svc", group: "" });
  assert.deepEqual(splitRunAs({ user: "a", group: "b" }), { user: "a", group: "b" });
});

Deno.test("resolveRunAs: names, ids, groups and the errors lint reports too", async () => {
  await withDb((passwd, group) => {
    assert.deepEqual(resolveRunAs("svc", passwd, group), { user: "svc", uid: 900, gid: 901 });
    assert.deepEqual(resolveRunAs("svc:ops", passwd, group), { user: "svc", uid: 900, gid: 950 });
    assert.deepEqual(resolveRunAs("900:0", passwd, group), { user: "900", uid: 900, gid: 0 });
    assert.deepEqual(resolveRunAs({ user: "root" }, passwd, group), {
      user: "root",
      uid: 0,
      gid: 0,
    });
    assert.equal(resolveRunAs("ghost", passwd, group), 'run_as user "ghost" does not exist');
    assert.equal(resolveRunAs("svc:nogrp", passwd, group), 'run_as group "nogrp" does not exist');
    // "svc:" names an empty group: an error here as in `check`, never silently the primary one.
    assert.equal(resolveRunAs("svc:", passwd, group), 'run_as group "" does not exist');
    assert.match(String(resolveRunAs("nogid", passwd, group)), /no primary group/);
  });
});

Deno.test("readDb of a missing file is empty", () => {
  assert.deepEqual(readDb("/nonexistent/passwd"), []);
});
