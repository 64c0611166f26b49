/**
 * Listen entries of a server that name several ports: `HOST:PORT`, `HOST:LO-HI` (a range)
 * and `HOST:P1,P2,LO-HI` (a list). Each entry expands to plain listen addresses; the
 * expansion is bounded so a typo cannot open thousands of sockets.
 * @module
 */
import { type ListenAddress, parseListen } from "../util/ip.ts";

/** Most ports one listen entry may expand to. */
export const MAX_PORTS_PER_ENTRY = 256;

/** A listen address and the index of the config entry it came from. */
export interface ExpandedListen extends ListenAddress {
  /** Index in the server's `listen` list as written (for `file:line:col` of a finding). */
  entry?: number;
}

/**
 * Expands one `listen` entry; returns a message when it is malformed. Ports are kept in
 * the order written; a port named twice in one entry is an error.
 */
export function expandListen(text: string): ListenAddress[] | string {
  const m = /^(.*):([0-9][0-9,\-\s]*)$/.exec(text.trim());
  if (!m) return parseListen(text) as string;
  const head = m[1];
  const spec = m[2];
  if (!spec.includes(",") && !spec.includes("-")) {
    const one = parseListen(text);
    return typeof one === "string" ? one : [one];
  }
  const first = parseListen(`${head}:1`);
  if (typeof first === "string") return first;
  const ports: number[] = [];
  for (const part of spec.split(",").map((s) => s.trim())) {
    const r = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    if (!r) return `"${part}" is not a port or range: expected PORT or LO-HI (50000-50003)`;
    const lo = Number(r[1]);
    const hi = r[2] === undefined ? lo : Number(r[2]);
    if (lo < 1 || hi > 65535 || lo > 65535) {
      return `port ${lo > 65535 || lo < 1 ? lo : hi} is out of range: expected 1..65535`;
    }
    if (hi < lo) return `range ${part} runs backwards: write LO-HI`;
    if (ports.length + (hi - lo + 1) > MAX_PORTS_PER_ENTRY) {
      return `more than ${MAX_PORTS_PER_ENTRY} ports in one listen entry`;
    }
    for (let p = lo; p <= hi; p++) {
      if (ports.includes(p)) return `port ${p} is named twice`;
      ports.push(p);
    }
  }
  return ports.map((port) => ({ ...first, port }));
}
