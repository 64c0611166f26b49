/**
 * Free UDP port runs for stealth tests: `count` consecutive ports free on every host given.
 * @module
 */

/** A base port such that base..base+count-1 are free UDP ports on every host in `hosts`. */
export function freePortRun(count: number, hosts: string[] = ["127.0.0.1"]): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const held: Deno.DatagramConn[] = [];
    let ok = true;
    try {
      for (let p = base; p < base + count && ok; p++) {
        for (const hostname of hosts) {
          try {
            held.push(Deno.listenDatagram({ transport: "udp", hostname, port: p }));
          } catch {
            ok = false;
            break;
          }
        }
      }
    } finally {
      for (const c of held) c.close();
    }
    if (ok) return base;
  }
  throw new Error(`no run of ${count} free UDP ports found`);
}
