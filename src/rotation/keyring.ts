/**
 * A server's openers during a rotation: the current key first, then the previous one while
 * its grace period lasts. A request that opens only under the previous key is marked
 * `stale`, so its reply can carry the notice of the new key.
 * @module
 */
import {
  type OpenResult,
  RequestOpener,
  type RequestOpenerOptions,
  type UserVerifier,
} from "../wire/mod.ts";

/** A {@linkcode RequestOpener} that also accepts the previous key. */
export class KeyRing extends RequestOpener {
  readonly #previous: RequestOpener;

  /** Current key in `opts`, previous key in `previous` (same mode, skew and clock). */
  constructor(
    opts: RequestOpenerOptions,
    previous: Pick<RequestOpenerOptions, "x25519Private" | "x25519Public">,
  ) {
    super(opts);
    this.#previous = new RequestOpener({ ...opts, ...previous });
  }

  /** `null` when the datagram may be for the current or the previous key. */
  override prefilter(
    datagram: Uint8Array,
    newestOnly = false,
  ): ReturnType<RequestOpener["prefilter"]> {
    const r = super.prefilter(datagram, newestOnly);
    if (r !== "bad_mac1" && r !== "wrong_mode") return r;
    return this.#previous.prefilter(datagram, newestOnly) === null ? null : r;
  }

  /** Opens under the current key, else under the previous one (then `stale`). */
  override open(
    datagram: Uint8Array,
    lookupUser: (id: number) => UserVerifier | undefined,
  ): OpenResult {
    const r = super.open(datagram, lookupUser);
    if (r.ok || (r.reason !== "bad_mac1" && r.reason !== "wrong_mode")) return r;
    const old = this.#previous.open(datagram, lookupUser);
    if (old.ok) return { ...old, stale: true };
    return old.reason === "bad_mac1" ? r : old;
  }
}
