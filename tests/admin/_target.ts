/**
 * A control target over a real validated config, for testing the control socket without
 * a daemon process (the integration tests use the real daemon).
 * @module
 */
import { type Config, ConfigSchema } from "../../src/config/schema.ts";
import type { SystemMessage } from "../../src/wire/reply_body.ts";
import type { ControlTarget, TargetReloadReport } from "../../src/admin/control.ts";
import { Overrides } from "../../src/daemon/overrides.ts";
import { Notices } from "../../src/daemon/notices.ts";

/** A config with two servers, users and actions (one disabled of each). */
export function sampleConfig(): Config {
  return ConfigSchema.parse({
    servers: [
      { name: "main", listen: ["127.0.0.1:40000"], key_file: "/k" },
      { name: "backup", listen: ["[::1]:40001"], key_file: "/k", enabled: false },
    ],
    users: [
      { id: 1, name: "alice", hmac_key_file: "/a", actions: ["ping", "deploy"] },
      { id: 2, name: "bob", hmac_key_file: "/b", actions: ["ping"] },
      { id: 3, name: "carol", hmac_key_file: "/c", enabled: false },
    ],
    actions: [
      { id: 1, name: "ping", type: "builtin", builtin: "ping" },
      { id: 2, name: "deploy", type: "exec", command: ["/bin/true"] },
      { id: 3, name: "debug", type: "exec", command: ["/bin/true"], enabled: false },
    ],
  });
}

/** A plain target: reload swaps in `next` (or fails with `reloadErrors`). */
export class TestTarget implements ControlTarget {
  counters: Record<string, number> = { received: 3 };
  started = Date.now() - 5000;
  configVersion = 1;
  configPath = "/etc/siglatch/siglatchd.yaml";
  runtime: { config: Config } = { config: sampleConfig() };
  /** Clock of the notices (tests set it with the control's). */
  clock: () => number = Date.now;
  overrides = new Overrides();
  notices = new Notices(() => [], () => this.clock());
  limiter = { running: 1, waiting: 2 };
  dryRun = false;
  reloadErrors: string[] | undefined;
  listening(): string[] {
    return ["127.0.0.1:40000"];
  }
  messages(): SystemMessage[] {
    return this.notices.list();
  }
  reload(keepOverrides = false): Promise<TargetReloadReport> {
    if (this.reloadErrors) return Promise.resolve({ ok: false, errors: this.reloadErrors });
    if (!keepOverrides) this.overrides.clear();
    this.configVersion++;
    return Promise.resolve({
      ok: true,
      version: this.configVersion,
      changes: { added: {}, removed: {}, changed: {} },
    });
  }
}
