#!/usr/bin/env bash
# Service health endpoints and CloudWatch alarm states.
# See docs/operations.md; --help lists the options. Exit codes: 0 ok, 1 failed, 2 bad input.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exec_module scripts.ops.health "$@"
