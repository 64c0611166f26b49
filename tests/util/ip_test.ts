import assert from "node:assert/strict";
import fc from "fast-check";
import {
  anyCidrContains,
  cidrContains,
  formatIp,
  parseCidr,
  parseIp,
  parseListen,
} from "../../src/util/ip.ts";

Deno.test("parseIp accepts IPv4 and IPv6 and rejects junk", () => {
  assert.equal(parseIp("127.0.0.1")?.value, 0x7f000001n);
  assert.equal(parseIp("::1")?.value, 1n);
  assert.equal(parseIp("[2001:db8::1]")?.family, 6);
  assert.equal(parseIp("::ffff:10.0.0.1")?.family, 4);
  for (const bad of ["", "1.2.3", "1.2.3.256", "01.2.3.4", "1::2::3", "g::1", "1.2.3.4.5", ":::"]) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("formatIp round-trips IPv4 and compresses IPv6", () => {
  assert.equal(formatIp(parseIp("2001:db8:0:0:0:0:0:1")!), "2001:db8::1");
  assert.equal(formatIp(parseIp("::")!), "::");
  fc.assert(fc.property(fc.ipV4(), (ip) => formatIp(parseIp(ip)!) === ip));
  fc.assert(fc.property(fc.ipV6(), (ip) => {
    const parsed = parseIp(ip);
    return parsed !== undefined && parseIp(formatIp(parsed))?.value === parsed.value;
  }));
});

Deno.test("CIDR containment for both families", () => {
  const net = parseCidr("10.1.2.3/8")!;
  assert.equal(net.text, "10.0.0.0/8");
  assert.ok(cidrContains(net, parseIp("10.255.0.1")!));
  assert.ok(!cidrContains(net, parseIp("11.0.0.1")!));
  assert.ok(!cidrContains(net, parseIp("::1")!));
  assert.ok(anyCidrContains([parseCidr("::/0")!], parseIp("2001:db8::5")!));
  assert.ok(cidrContains(parseCidr("0.0.0.0/0")!, parseIp("8.8.8.8")!));
  assert.equal(parseCidr("10.0.0.0/33"), undefined);
  assert.equal(parseCidr("10.0.0.0/x"), undefined);
});

Deno.test("parseListen validates host and port", () => {
  assert.deepEqual(parseListen("127.0.0.1:50000"), { host: "127.0.0.1", port: 50000, family: 4 });
  assert.deepEqual(parseListen("[::1]:1"), { host: "::1", port: 1, family: 6 });
  assert.match(parseListen("127.0.0.1:99999") as string, /out of range/);
  assert.match(parseListen("127.0.0.1:0") as string, /out of range/);
  assert.match(parseListen("localhost:5") as string, /not an IP/);
  assert.match(parseListen("::1:5") as string, /HOST:PORT/);
});

/** The straightforward reading of a dotted quad, to check the one-pass parser against. */
function referenceIpv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    if (Number(part) > 255 || (part.length > 1 && part[0] === "0")) return undefined;
    value = (value << 8n) | BigInt(Number(part));
  }
  return value;
}

Deno.test("parseIp reads IPv4 exactly as the reference does, on any string of digits and dots", () => {
  const near = fc.string({ unit: fc.constantFrom(..."0123456789.", "a", " ", "-"), maxLength: 17 });
  const quads = fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300), fc.boolean())
    .map(([a, b, c, d, pad]) => [a, b, c, d].map((x) => (pad && x < 10 ? "0" : "") + x).join("."));
  fc.assert(
    fc.property(fc.oneof(near, quads), (text) => {
      const got = parseIp(text);
      const want = referenceIpv4(text.trim());
      if (want === undefined) return got === undefined;
      return got !== undefined && got.family === 4 && got.value === want;
    }),
    { numRuns: 20_000 },
  );
});

Deno.test("parseIp: a zone is an interface name or index, nothing else", () => {
  assert.equal(formatIp(parseIp("fe80::1%eth0")!), "fe80::1");
  assert.equal(formatIp(parseIp("fe80::1%3")!), "fe80::1");
  for (
    const bad of [
      "fe80::1%x } ; flush ruleset",
      "fe80::1%",
      "fe80::1%a b",
      "fe80::1%" + "x".repeat(16),
    ]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("cidrContains: the IPv4 fast path agrees with the mask arithmetic at every prefix", () => {
  const addrs = ["0.0.0.0", "255.255.255.255", "10.1.2.3", "192.168.255.1", "128.0.0.0", "1.2.3.4"];
  for (const a of addrs) {
    const ip = parseIp(a)!;
    for (let prefix = 0; prefix <= 32; prefix++) {
      for (const b of addrs) {
        const net = parseCidr(`${b}/${prefix}`);
        if (!net) continue;
        const host = 32 - prefix;
        const want = prefix === 0 ||
          (ip.value >> BigInt(host)) === (net.network >> BigInt(host));
        assert.equal(cidrContains(net, ip), want, `${a} in ${b}/${prefix}`);
      }
    }
  }
});
