#!/usr/bin/env bash
# Deploy a stack safely: preflight, offline policy gate, pulumi preview with the policy pack,
# confirmation, pulumi up with the policy pack, then live validation. Stops at the first failure
# with a clear message and a non-zero exit; nothing after a failed step runs.
#
#   scripts/deploy-production-secure.sh [--stack prod] [--yes]
#
# Exit codes: 0 deployed and validated, 1 a step failed or the confirmation was declined,
# 2 bad arguments. PYTHON (default .venv/bin/python) and OUT (where the preview and policy
# report are kept; default out/deploy/<stack>-<UTC time>) may be set in the environment.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STACK="prod"
ASSUME_YES=0
STEP="arguments"

usage() {
  sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

usage_error() {
  echo "error: $*" >&2
  exit 2
}

fail() {
  echo "deploy: FAILED at ${STEP}: $*" >&2
  exit 1
}

step() {
  STEP="$1"
  echo "==> $1"
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --stack)
      [ "$#" -ge 2 ] || usage_error "--stack needs a stack name, e.g. --stack prod"
      STACK="$2"
      shift 2
      ;;
    --stack=*)
      STACK="${1#--stack=}"
      shift
      ;;
    --yes | -y)
      ASSUME_YES=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage_error "unknown argument '$1'; allowed: --stack NAME, --yes, --help"
      ;;
  esac
done

[[ "$STACK" =~ ^[A-Za-z0-9_.-]+$ ]] || usage_error "--stack = '$STACK': only letters, digits, '.', '_' and '-'"
[ -f "$ROOT/Pulumi.$STACK.yaml" ] || usage_error "--stack = '$STACK': no Pulumi.$STACK.yaml in $ROOT"
require_python
cd "$ROOT"

step "preflight: pulumi CLI"
command -v pulumi >/dev/null 2>&1 || fail "the pulumi CLI is not on PATH (install: https://www.pulumi.com/docs/install/)"

step "preflight: pulumi login"
if ! who="$(pulumi whoami 2>&1)"; then
  fail "not logged in to Pulumi ($(echo "$who" | tail -n 1)); run: pulumi login"
fi
echo "    pulumi user: $who"

step "preflight: AWS identity"
"$PYTHON" -m scripts.ops.aws identity --stack "$STACK" || fail "no usable AWS credentials for stack $STACK (aws sso login, or check AWS_PROFILE)"

step "preflight: account can take the stack (read-only)"
"$PYTHON" -m scripts.ops.preflight --stack "$STACK" || fail "the account cannot take stack $STACK yet (FAIL lines above); nothing was deployed"

step "preflight: stack selected"
if ! pulumi stack select "$STACK" >/dev/null 2>&1; then
  fail "cannot select stack '$STACK'; stacks: $(pulumi stack ls 2>/dev/null | tr '\n' ' ')"
fi

step "preflight: clean git tree"
dirty="$(git status --porcelain 2>&1)" || fail "not a git checkout: $dirty"
[ -z "$dirty" ] || fail "uncommitted changes; deploy only committed code: $(echo "$dirty" | head -n 5 | tr '\n' ' ')"
revision="$(git rev-parse --short HEAD)"
echo "    commit: $revision"

OUT="${OUT:-$ROOT/out/deploy/$STACK-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"

step "policy gate (offline preview, policy pack and checkov)"
"$PYTHON" -m scripts.engine.preview --stack "$STACK" --out "$OUT" || fail "the offline preview failed; nothing was deployed"
# --strict: the deploy gate fails closed, so a mandatory check left undecided (a value unknown or
# secret, a partial document) blocks like a violation.
"$PYTHON" -m scripts.report.policy_report "$OUT/preview.json" --with-checkov --format text --strict || fail "policy or checkov violations, or undecided mandatory checks (report above, and in $OUT); nothing was deployed"

step "pulumi preview"
pulumi preview --stack "$STACK" --diff --policy-pack policies || fail "pulumi preview failed or a policy blocked it; nothing was deployed"

step "confirmation"
if [ "$ASSUME_YES" -eq 1 ]; then
  echo "    --yes given"
else
  answer=""
  read -r -p "Deploy commit $revision to stack '$STACK'? Type the stack name to confirm: " answer || true
  [ "$answer" = "$STACK" ] || fail "not confirmed (got '$answer'); nothing was deployed"
fi

step "pulumi up"
pulumi up --stack "$STACK" --yes --policy-pack policies || fail "pulumi up failed; check 'pulumi stack history' and run scripts/validate-deployment.sh --stack $STACK"

step "live validation"
"$PYTHON" -m scripts.ops.validate_deployment --stack "$STACK" || fail "the deployed stack does not pass live validation (findings above)"

echo "deploy: stack $STACK deployed at $revision and validated"
