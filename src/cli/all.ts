/**
 * Registers every subcommand module with the CLI. Add new subcommands here.
 * @module
 */
import { addSubcommands } from "./mod.ts";
import * as serve from "./serve.ts";
import * as send from "./send.ts";
import * as demo from "./demo.ts";
import * as keygen from "./keygen.ts";
import * as check from "./check.ts";
import * as schema from "./schema.ts";
import * as bans from "./bans.ts";
import * as admin from "./admin.ts";
import * as simulate from "./simulate.ts";
import * as messages from "./messages.ts";
import * as open from "./open.ts";

addSubcommands(serve, send, demo, keygen, check, schema, bans, admin, simulate, messages, open);
