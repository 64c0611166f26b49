/**
 * Runtime switches: servers, actions and users an operator disabled without editing the
 * config. The admin changes them only through these methods.
 * @module
 */

/** The sections an override can name. */
export type OverrideSection = "servers" | "actions" | "users";

/** Names disabled at runtime, per section. */
export class Overrides {
  #sets: Record<OverrideSection, Set<string>> = Overrides.#empty();

  static #empty(): Record<OverrideSection, Set<string>> {
    return { servers: new Set(), actions: new Set(), users: new Set() };
  }

  /** True when `name` is disabled in `section`. */
  has(section: OverrideSection, name: string): boolean {
    return this.#sets[section].has(name);
  }

  /** Disables `name`. */
  disable(section: OverrideSection, name: string): void {
    this.#sets[section].add(name);
  }

  /** Enables `name` again; true when it was disabled. */
  enable(section: OverrideSection, name: string): boolean {
    return this.#sets[section].delete(name);
  }

  /** The disabled names of `section`, sorted. */
  names(section: OverrideSection): string[] {
    return [...this.#sets[section]].sort();
  }

  /** Enables everything (a reload without `keep_overrides`). */
  clear(): void {
    this.#sets = Overrides.#empty();
  }
}
