/**
 * Firewall grant throughput and latency through NftGrants' batching, in a throwaway
 * network namespace (root + nft + ip needed; never the host ruleset).
 *
 * Run: `deno run --allow-run --allow-read bench/firewall_bench.ts [SECONDS] [RATE]`
 * Prints: burst grants/s (20k distinct grants at once), then a steady offered RATE
 * (default 2000/s) for SECONDS (default 5) with the time from grant() to the element being
 * in the kernel (the promise settles after nft applied the batch): median and p99.
 * @module
 */
import { NftGrants } from "../src/nft/grants.ts";

const seconds = Number(Deno.args[0] ?? 5);
const rate = Number(Deno.args[1] ?? 2000);
const ns = `slB${Deno.pid % 100000}`;

async function ip(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

const addr = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

await ip("netns", "add", ns);
try {
  const nft = new NftGrants({ netns: ns });
  await nft.setup();
  // Burst.
  const n = 20_000;
  let t0 = performance.now();
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < n; i++) jobs.push(nft.grant(addr(i), [{ proto: "tcp", port: 22 }], 300_000));
  await Promise.all(jobs);
  let dt = (performance.now() - t0) / 1000;
  console.log(
    `burst: ${n} grants in ${dt.toFixed(2)} s = ${
      Math.round(n / dt)
    } grants/s, ${nft.counters.batches} nft runs`,
  );
  // Steady offered rate, in 10 ms ticks.
  const lat: number[] = [];
  const steady: Promise<void>[] = [];
  const before = nft.counters.batches;
  t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    for (; sent < due; sent++) {
      const start = performance.now();
      steady.push(
        nft.grant(addr(100_000 + sent), [{ proto: "tcp", port: 22 }], 300_000).then(() => {
          lat.push(performance.now() - start);
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(steady);
  dt = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  console.log(
    `steady: offered ${rate}/s for ${seconds} s: ${sent} grants applied in ${dt.toFixed(2)} s ` +
      `(${Math.round(sent / dt)} grants/s), ${nft.counters.batches - before} nft runs; ` +
      `grant->in kernel median ${pct(lat, 0.5).toFixed(1)} ms, p99 ${pct(lat, 0.99).toFixed(1)} ms`,
  );
  const listed = await nft.list();
  console.log(
    `elements in the kernel: ${listed.length} (expected ${
      n + sent
    }); errors ${nft.counters.batch_errors}`,
  );
} finally {
  await ip("netns", "del", ns);
}
