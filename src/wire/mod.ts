/**
 * siglatch wire protocol v2 (v1 recognised): sealing and opening requests and replies,
 * mac2 and cookie replies, the
 * replay guard, fragments and reassembly. Pure: no sockets, no files, injectable clock.
 * See docs/PROTOCOL.md.
 * @module
 */
export * from "./types.ts";
export { SUITE_V1, SUITE_V2, suiteOf, SUITES, type WireMode, type WireSuite } from "./suite.ts";
export { type UserAuth, type UserVerifier } from "./auth.ts";
export { type RequestInner } from "./inner.ts";
export {
  type OpenedRequest,
  type OpenResult,
  requestDatagramLength,
  type RequestFields,
  RequestOpener,
  type RequestOpenerOptions,
  type SealedRequest,
  type SealOptions,
  sealRequest,
} from "./request.ts";
export {
  maxReplyBody,
  type OpenedReply,
  type ReplyFields,
  ReplyOpener,
  type ReplyOpenResult,
  ReplySealer,
  type ReplyType,
} from "./reply.ts";
export {
  COOKIE_CLIENT_TTL_MS,
  COOKIE_REPLY_LEN,
  COOKIE_ROTATE_MS,
  CookieChecker,
  type CookieCheckerOptions,
  cookieFor,
  type CookieReply,
  openCookieReply,
  sealCookieReply,
} from "./cookie.ts";
export { computeMac2, mac1OfV2 } from "./mac2.ts";
export {
  type ReplayEntry,
  ReplayGuard,
  type ReplayGuardOptions,
  type ReplayReason,
  type ReplayStats,
} from "./replay.ts";
export {
  encodeFragment,
  type Fragment,
  FRAGMENT_HEADER_LEN,
  type FragmentedFields,
  type FragmentOptions,
  MAX_FRAGMENT_DATAGRAM,
  maxFragmentChunk,
  parseFragment,
  sealFragments,
} from "./fragment.ts";
export {
  DEFAULT_REASSEMBLY_LIMITS,
  type FragmentReason,
  Reassembler,
  type ReassemblyLimits,
  type ReassemblyResult,
  type ReassemblyStats,
} from "./reassembly.ts";
