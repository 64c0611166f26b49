/**
 * Only canonical addresses and prefixes may enter an nft script.
 * @module
 */
import assert from "node:assert/strict";
import { nftAddress, nftSource } from "../../src/nft/address.ts";

Deno.test("nftAddress: canonical IPv4/IPv6 in, everything else refused", () => {
  assert.deepEqual(nftAddress("192.0.2.7"), { family: 4, text: "192.0.2.7" });
  assert.deepEqual(nftAddress("2001:db8::1"), { family: 6, text: "2001:db8::1" });
  for (
    const bad of [
      "fe80::1%eth0", // zone suffix
      "[2001:db8::1]",
      " 192.0.2.7",
      "192.0.2.7\n",
      "2001:DB8::1", // upper case
      "2001:db8:0:0::1", // not compressed
      "192.000.2.7",
      "::ffff:192.0.2.7", // mapped: the IPv4 text is the canonical one
      "10.0.0.1 }; flush ruleset; {",
      "10.0.0.0/8",
      "",
      "1.2.3",
    ]
  ) {
    assert.throws(() => nftAddress(bad), /canonical/, JSON.stringify(bad));
  }
  assert.throws(() => nftAddress(undefined as unknown as string));
});

Deno.test("nftSource: an address or a canonical prefix with host bits clear", () => {
  assert.equal(nftSource("2001:db8::/64").text, "2001:db8::/64");
  assert.equal(nftSource("2001:db8::/64").family, 6);
  assert.equal(nftSource("192.0.2.7").text, "192.0.2.7");
  for (
    const bad of [
      "2001:db8::1/64", // host bits set
      "2001:db8::/064",
      "2001:db8::/129",
      "2001:db8::/64 }",
      "2001:db8::/",
      "192.0.2.0/33",
      "fe80::%lo/64",
    ]
  ) {
    assert.throws(() => nftSource(bad), /canonical/, JSON.stringify(bad));
  }
});
