/**
 * A real daemon on loopback addresses for stealth tests: started and always stopped around a
 * test body, alice's ping to any host and port, and the check that it listens somewhere.
 * @module
 */
import assert from "node:assert/strict";
import { aliceOptions, type DaemonProcess, type Fixture, startDaemon } from "../_helpers/daemon.ts";
import { sendRequest, type SendResult } from "../../src/client/send.ts";

/** Starts the fixture's daemon, runs `fn`, and always stops it and removes the fixture. */
export async function withLocalDaemon(
  fx: Fixture,
  fn: (daemon: DaemonProcess) => Promise<void>,
): Promise<void> {
  const daemon = await startDaemon(fx.config);
  try {
    await fn(daemon);
  } finally {
    await daemon.stop();
    await fx.cleanup();
  }
}

/** Alice's `ping` (action 1) to `host:port`, one datagram, waiting `timeoutMs` for the reply. */
export function pingAlice(
  fx: Fixture,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<SendResult> {
  return sendRequest(aliceOptions(fx, { host, port, timeoutMs }));
}

/** Asserts that the daemon logged a UDP socket on `host:port`. */
export function assertListening(daemon: { logs(): string }, host: string, port: number): void {
  assert.match(
    daemon.logs(),
    new RegExp(`listening on udp ${host.replaceAll(".", "\\.")}:${port}\\b`),
  );
}
