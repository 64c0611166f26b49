/**
 * What a module plugin's Worker receives and answers (docs/PLUGINS.md, "module").
 * @module
 */

/** Version of the Worker message, in every {@linkcode PluginMessage}. */
export const MODULE_PROTOCOL_VERSION = 1;

/** The one message a module plugin's Worker receives. */
export interface PluginMessage {
  /** {@linkcode MODULE_PROTOCOL_VERSION}. */
  version: number;
  /** Which of the plugin's actions runs. */
  action: string;
  /** The action's `plugin.config`, checked against the manifest. */
  config: Record<string, unknown>;
  /** The request's `SIGLATCH_*` facts (user, action, source, request id...). */
  env: Record<string, string>;
  /** The request payload. */
  payload: Uint8Array;
}

/** The one message a module plugin's Worker posts back. */
export interface PluginAnswer {
  /** Output for the reply (text or bytes). */
  output?: string | Uint8Array;
  /** Exit code, 0–255 (default 0, or 1 with `error`). */
  exit?: number;
  /** A short error text (goes to stderr, shown in the reply like an exec action's). */
  error?: string;
}
