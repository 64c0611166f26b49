/**
 * src/ has no import cycles (type-only imports count too: a cycle of types is still two
 * modules that cannot be understood apart). Reads every src file's static relative
 * imports and re-exports and walks the graph depth-first.
 */
import assert from "node:assert/strict";

const SRC = new URL("../src/", import.meta.url);

/** Relative specifiers of `import … from`, `export … from` and bare `import "…"`. */
const IMPORT = /(?:^|[\n;])\s*(?:import|export)\b(?:[^;"']*?\bfrom)?\s*["'](\.{1,2}\/[^"']+)["']/g;

async function sourceFiles(dir: URL): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) out.push(...await sourceFiles(url));
    else if (e.name.endsWith(".ts")) out.push(url.href);
  }
  return out;
}

/** Module → the modules it imports, for every file under src/. */
async function importGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const file of await sourceFiles(SRC)) {
    const text = await Deno.readTextFile(new URL(file));
    graph.set(file, [...text.matchAll(IMPORT)].map((m) => new URL(m[1], file).href));
  }
  return graph;
}

/** One cycle of `graph` as a path that starts and ends at the same node, or undefined. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const done = new Set<string>();
  const onPath: string[] = [];
  const visit = (node: string): string[] | undefined => {
    const at = onPath.indexOf(node);
    if (at >= 0) return [...onPath.slice(at), node];
    if (done.has(node)) return undefined;
    onPath.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    onPath.pop();
    done.add(node);
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

Deno.test("the cycle finder finds a cycle three modules long and none in a diamond", () => {
  const cyclic = new Map([["a", ["b"]], ["b", ["c", "d"]], ["c", ["a"]], ["d", []]]);
  assert.deepEqual(findCycle(cyclic), ["a", "b", "c", "a"]);
  const diamond = new Map([["a", ["b", "c"]], ["b", ["d"]], ["c", ["d"]], ["d", []]]);
  assert.equal(findCycle(diamond), undefined);
});

Deno.test("the import pattern sees multi-line, type-only and re-export imports", () => {
  const text = `import {\n  a,\n  b,\n} from "./x.ts";\nimport type { T } from "../y.ts";\n` +
    `export { c } from "./z.ts";\nimport "./side.ts";\nconst s = "from './no.ts'";\n`;
  assert.deepEqual([...text.matchAll(IMPORT)].map((m) => m[1]), [
    "./x.ts",
    "../y.ts",
    "./z.ts",
    "./side.ts",
  ]);
});

Deno.test("src/ has no import cycles", async () => {
  const graph = await importGraph();
  assert.ok(graph.size > 50, `only ${graph.size} files read under src/`);
  for (const [file, deps] of graph) {
    for (const dep of deps) assert.ok(graph.has(dep), `${file} imports missing ${dep}`);
  }
  const cycle = findCycle(graph)?.map((f) => f.slice(SRC.href.length));
  assert.equal(cycle, undefined, `import cycle in src/: ${cycle?.join(" -> ")}`);
});
