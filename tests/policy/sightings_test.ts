import assert from "node:assert/strict";
import { RepeatSightings } from "../../src/policy/sightings.ts";

Deno.test("sightings: the same source again within the window is a repeat, once", () => {
  const s = new RepeatSightings(1024, 2000);
  assert.equal(s.repeated("192.0.2.7", 40000, 1000), false);
  assert.equal(s.repeated("192.0.2.7", 40000, 1250), true);
  // The match consumed the sighting; the next one starts over.
  assert.equal(s.repeated("192.0.2.7", 40000, 1300), false);
  assert.equal(s.repeated("192.0.2.7", 40000, 1400), true);
});

Deno.test("sightings: another port, another address or a late retry is not a repeat", () => {
  const s = new RepeatSightings(1024, 2000);
  assert.equal(s.repeated("192.0.2.7", 40000, 1000), false);
  assert.equal(s.repeated("192.0.2.7", 40001, 1100), false);
  assert.equal(s.repeated("192.0.2.8", 40000, 1200), false);
  const late = new RepeatSightings(1024, 2000);
  assert.equal(late.repeated("192.0.2.7", 40000, 1000), false);
  assert.equal(late.repeated("192.0.2.7", 40000, 3001), false);
});

Deno.test("sightings: a random spoofed flood rarely repeats, a retry behind 25k of it is still found", () => {
  const s = new RepeatSightings(1 << 18, 2000);
  let spoofRepeats = 0;
  let found = 0;
  let n = 0;
  const random = () => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n++ & 255}`;
  for (let trial = 0; trial < 40; trial++) {
    const port = 20000 + trial;
    s.repeated("192.0.2.7", port, 1000);
    // 25,000 spoofed datagrams (100k/s for the client's 250 ms timeout), distinct sources.
    for (let i = 0; i < 25_000; i++) {
      if (s.repeated(random(), 1024 + (n & 4095), 1100)) spoofRepeats++;
    }
    if (s.repeated("192.0.2.7", port, 1250)) found++;
  }
  // 2^18 slots, 25,000 writes between: a sighting survives with e^(-25000/2^18) = 0.91.
  assert.ok(found >= 30, `found ${found} of 40`);
  // Distinct sources never count as repeats unless two collide on slot and tag (2^-31).
  assert.equal(spoofRepeats, 0);
});
