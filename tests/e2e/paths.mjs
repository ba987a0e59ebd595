// Where the browser test finds things: the source tree, the daemons, their
// build folder, Chromium. Node's standard library only.

import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SRC = path.resolve(process.env.AUDITLOG_SOURCE_DIR || path.join(HERE, '../..'));
export const BIN = path.resolve(process.env.AUDITLOG_BIN_DIR || path.join(SRC, 'build/bin'));
export const BUILD = path.dirname(BIN); // build/ or build-sanitize/ (./run.sh test)
export const CHROMIUM = process.env.AUDITLOG_CHROMIUM || '/usr/bin/chromium';
