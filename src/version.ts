/** The siglatch release version, shown by `siglatch version` and the `version` builtin. */
export const VERSION = "0.1.0";

/** The wire protocol versions this build speaks. */
export const PROTOCOL_VERSIONS = [1] as const;
