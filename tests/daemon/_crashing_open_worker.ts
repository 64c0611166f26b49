/**
 * The real open worker, except that a batch holding a 77-byte datagram throws out of the
 * message handler, as a bug would: the pool must replace the worker.
 */
import { serveBatches } from "../../src/daemon/open_worker.ts";
import type { BatchMessage, KeysMessage } from "../../src/daemon/open_worker.ts";

/** Length of the datagram that kills the worker. */
export const CRASH_LENGTH = 77;

if (import.meta.main) {
  // deno-lint-ignore no-explicit-any
  const scope = self as any;
  serveBatches(scope);
  const real = scope.onmessage as (e: MessageEvent<KeysMessage | BatchMessage>) => void;
  scope.onmessage = (e: MessageEvent<KeysMessage | BatchMessage>) => {
    if (e.data.t === "batch" && e.data.lengths.includes(CRASH_LENGTH)) {
      throw new Error("open worker crash (test)");
    }
    real(e);
  };
}
