/**
 * The userspace alternative to kernel knocks (knockd's model), for the knock-mode bench:
 * UDP sockets on the sequence's ports, a per-source stage table in JS (bounded, entries
 * older than the window start over, a wrong port resets), and on a completed sequence one
 * `nft add element` into the same finished set the kernel rules use. Argv: HOST, the
 * sequence as `p1,p2,p3`, the window in ms. Prints `ready`, then one line per opened source.
 * @module
 */
const hostname = Deno.args[0];
const seq = Deno.args[1].split(",").map(Number);
const windowMs = Number(Deno.args[2]);
const MAX_SOURCES = 65536;
const stages = new Map<string, { stage: number; at: number }>();

function knock(src: string, port: number, now: number): boolean {
  const cur = stages.get(src);
  const stage = cur && now - cur.at <= windowMs ? cur.stage : 0;
  stages.delete(src);
  const next = port === seq[stage] ? stage + 1 : port === seq[0] ? 1 : 0;
  if (next === seq.length) return true;
  if (next > 0) {
    if (stages.size >= MAX_SOURCES) stages.delete(stages.keys().next().value!);
    stages.set(src, { stage: next, at: now });
  }
  return false;
}

async function open(src: string): Promise<void> {
  const out = await new Deno.Command("nft", {
    args: ["add", "element", "inet", "siglatch_knock", "g0_ok_4", `{ ${src} }`],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) console.error(new TextDecoder().decode(out.stderr));
  else console.log(`opened ${src}`);
}

const socks = seq.map((port) => Deno.listenDatagram({ transport: "udp", hostname, port }));
console.log("ready");
await Promise.all(socks.map(async (sock, i) => {
  const buf = new Uint8Array(2048);
  for (;;) {
    const [, from] = await sock.receive(buf);
    const src = (from as Deno.NetAddr).hostname;
    if (knock(src, seq[i], Date.now())) open(src);
  }
}));
