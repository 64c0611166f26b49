/**
 * Registers every subcommand module with the CLI. Add new subcommands here.
 * @module
 */
import { addSubcommands } from "./mod.ts";
import * as serve from "./serve.ts";
import * as send from "./send.ts";
import * as demo from "./demo.ts";
import * as permissions from "./permissions.ts";
import * as keygen from "./keygen.ts";
import * as check from "./check.ts";
import * as schema from "./schema.ts";
import * as bans from "./bans.ts";
import * as admin from "./admin.ts";
import * as simulate from "./simulate.ts";
import * as messages from "./messages.ts";
import * as open from "./open.ts";
import * as plugins from "./plugins.ts";
import * as invite from "./invite.ts";
import * as enroll from "./enroll.ts";
import * as session from "./session.ts";

// Order here is the order `siglatch --help` lists them in.
addSubcommands(
  serve,
  check,
  send,
  session,
  open,
  keygen,
  admin,
  invite,
  enroll,
  bans,
  messages,
  simulate,
  schema,
  permissions,
  demo,
  plugins,
);
