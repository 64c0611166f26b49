/**
 * The knock rules' text: entering stage 1 passes the per-source meter and the guard's limit
 * first, and the limits exist once per guard (the namespace tests run them for real).
 */
import assert from "node:assert/strict";
import { ENTRY_RATE, knockRulesScript, METER_SIZE, SOURCE_RATE } from "../../src/nft/knock.ts";

const rules = knockRulesScript([{
  id: "g0",
  serverPorts: [50017],
  proto: "udp",
  space: { ports: [7001, 7002, 7003] },
  sequences: [{ id: "q", ports: [7001, 7002, 7003] }],
  windowMs: 3000,
  openMs: 30_000,
}]).split("\n");

Deno.test("knock rules: stage-1 entries are limited per source, then per guard", () => {
  for (const tag of ["4", "6"]) {
    const saddr = tag === "4" ? "ip saddr" : "ip6 saddr";
    const meter = rules.findIndex((l) =>
      l.includes(`${saddr} != @g0_q_s1_${tag} udp dport 7001 update @g0_m_${tag}`) &&
      l.includes(`limit rate over ${SOURCE_RATE}/second`) && l.endsWith("counter drop")
    );
    const guard = rules.findIndex((l) =>
      l.includes(`${saddr} != @g0_q_s1_${tag} udp dport 7001 limit name "g0_entry" counter drop`)
    );
    const enter = rules.findIndex((l) =>
      l.endsWith(`udp dport 7001 update @g0_q_s1_${tag} { ${saddr} } counter`)
    );
    assert.ok(meter >= 0 && guard > meter && enter > guard, `family ${tag}: ${rules.join("\n")}`);
    assert.ok(rules.some((l) =>
      l.includes(`set inet siglatch_knock g0_m_${tag} {`) &&
      l.includes(`size ${METER_SIZE};`)
    ));
  }
  assert.equal(
    rules.filter((l) => l.startsWith("add limit inet siglatch_knock g0_entry")).length,
    1,
  );
  assert.ok(rules.some((l) => l.includes(`rate over ${ENTRY_RATE}/second`)));
});
