/**
 * Admin surfaces of the daemon: {@linkcode startAdmin} wires the control socket to a
 * running daemon (log tap, command handlers, socket server).
 * @module
 */
import { logger, tapLogs } from "../util/log.ts";
import { AdminControl, type ControlExtensions, type ControlTarget } from "./control.ts";
import { ControlServer, type ControlServerOptions } from "./server.ts";

export { AdminControl, type ControlExtensions, type ControlTarget } from "./control.ts";
export { ControlServer } from "./server.ts";
export { daemonExtensions } from "./extensions.ts";

/** The running admin surface. */
export interface AdminHandle {
  /** Command handlers (use `control.reload()` for SIGHUP so persisted overrides stay). */
  control: AdminControl;
  /** The socket server, when it could bind. */
  server?: ControlServer;
  /** Stops the socket and the log tap. */
  stop(): Promise<void>;
}

/**
 * Starts the control socket for `daemon` at `socketPath`. A socket that cannot be bound is
 * logged as an error and the daemon keeps serving without it.
 */
export async function startAdmin(
  daemon: ControlTarget,
  socketPath: string,
  extensions?: ControlExtensions,
  opts: Omit<ControlServerOptions, "path"> = {},
): Promise<AdminHandle> {
  const log = logger("admin");
  const control = new AdminControl(daemon, { extensions });
  const untap = tapLogs((r) => control.onLog(r));
  let server: ControlServer | undefined;
  try {
    server = await ControlServer.start(control, { ...opts, path: socketPath });
    log.info("admin socket {path}", { path: server.path });
  } catch (err) {
    log.error("admin socket {path} not available: {err}", {
      path: socketPath,
      err: err instanceof Error ? err.message : String(err),
    });
  }
  return {
    control,
    server,
    stop: async () => {
      untap();
      await server?.stop();
    },
  };
}
