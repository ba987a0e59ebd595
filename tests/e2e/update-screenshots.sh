#!/usr/bin/env bash
# Runs the browser test as ./run.sh test does (-R '^e2e\.ui$'), with the
# pictures its screenshot() calls take written into docs/screenshots instead
# of <build dir>/e2e-screenshots: the pictures the docs show. A normal test
# run never writes into docs/. More arguments go to ctest (e.g. -V).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHOTS=$ROOT/docs/screenshots
mkdir -p "$SHOTS"
cd "$ROOT"
rc=0
AUDITLOG_E2E_SHOTS=$SHOTS ./run.sh test -R '^e2e\.ui$' "$@" || rc=$?
echo "# docs/screenshots, as git sees it now:"
git status --short -- docs/screenshots
exit "$rc"
