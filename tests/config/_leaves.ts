/**
 * The leaf field paths of the config schema (`servers[].limits.clock_skew`), for the test
 * that every field either has an effect some test shows or is refused.
 * @module
 */
import type { z } from "zod";
import { notImplementedMessage } from "../../src/config/schema.ts";

type AnySchema = z.core.$ZodType;
interface Def {
  type: string;
  shape?: Record<string, AnySchema>;
  element?: AnySchema;
  innerType?: AnySchema;
  in?: AnySchema;
  out?: AnySchema;
  options?: AnySchema[];
}

/** One leaf: its path, and the refusal message when the schema refuses it. */
export interface Leaf {
  /** `servers[].limits.clock_skew`. */
  path: string;
  /** Set for a field refused as "not implemented yet". */
  refused?: string;
}

/** Every leaf under `schema`; a not-implemented field is one leaf, its insides are not walked. */
export function leafPaths(schema: AnySchema, prefix = ""): Leaf[] {
  const refused = notImplementedMessage(schema);
  if (refused) return [{ path: prefix, refused }];
  const def = schema._zod.def as unknown as Def;
  switch (def.type) {
    case "optional":
    case "default":
    case "prefault":
    case "nullable":
      return leafPaths(def.innerType!, prefix);
    case "pipe":
      return leafPaths(def.in!._zod.def.type === "transform" ? def.out! : def.in!, prefix);
    case "object":
      return Object.entries(def.shape!).flatMap(([key, value]) =>
        leafPaths(value, prefix ? `${prefix}.${key}` : key)
      );
    case "array": {
      const inner = leafPaths(def.element!, `${prefix}[]`);
      // A list of scalars is one field; a list of mappings has fields of its own.
      return inner.length === 1 && inner[0].path === `${prefix}[]` ? [{ path: prefix }] : inner;
    }
    case "union": {
      const objects = def.options!.filter((o) => unwrapType(o) === "object");
      if (objects.length === 0) return [{ path: prefix }];
      return [{ path: prefix }, ...objects.flatMap((o) => leafPaths(o, prefix))];
    }
    default:
      return [{ path: prefix }];
  }
}

function unwrapType(schema: AnySchema): string {
  const def = schema._zod.def as unknown as Def;
  if (def.innerType) return unwrapType(def.innerType);
  return def.type;
}
