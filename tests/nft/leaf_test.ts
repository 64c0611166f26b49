/**
 * `src/nft/` is a leaf: it imports only its own files and `src/util/`, never policy,
 * actions, config, daemon or state types; and no other folder builds nft scripts itself.
 * @module
 */
import assert from "node:assert/strict";

const SRC = new URL("../../src/", import.meta.url);

async function* tsFiles(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* tsFiles(url);
    else if (e.name.endsWith(".ts")) yield url;
  }
}

Deno.test("src/nft imports only itself and src/util", async () => {
  for await (const file of tsFiles(new URL("nft/", SRC))) {
    const text = await Deno.readTextFile(file);
    for (const m of text.matchAll(/^import [^;]*? from "([^"]+)";/gms)) {
      assert.match(
        m[1],
        /^\.\/[a-z_]+\.ts$|^\.\.\/util\/[a-z_]+\.ts$/,
        `${file.pathname}: ${m[1]}`,
      );
    }
  }
});

Deno.test("no file outside src/nft runs nft or writes nft script lines", async () => {
  for await (const file of tsFiles(SRC)) {
    if (file.pathname.includes("/src/nft/")) continue;
    const text = await Deno.readTextFile(file);
    assert.doesNotMatch(text, /runNft|add element inet|new Deno\.Command\(\s*"nft"/, file.pathname);
  }
});
