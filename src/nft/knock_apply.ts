/**
 * Runs the knock scripts of `knock.ts` (every nft process starts in this folder): applies a
 * rendered rules script as one batch, and removes the knock table.
 * @module
 */
import { knockTeardownScript } from "./knock.ts";
import { runNft } from "./run.ts";

/** Applies a script from `knockRulesScript` in one batch; throws with nft's message. */
export async function applyKnockScript(nft: readonly string[], script: string): Promise<void> {
  const res = await runNft(nft, script);
  if (res.code !== 0) throw new Error(`nft (knock rules): ${res.stderr.trim()}`);
}

/** Removes the knock table (its absence is no error). */
export async function removeKnockTable(nft: readonly string[]): Promise<void> {
  await runNft(nft, knockTeardownScript());
}
