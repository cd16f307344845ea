# shellcheck shell=bash
# Shared by the scripts/*.sh wrappers: find the repo and its Python, then run a module.
# PYTHON may be set to another interpreter (CI, tests); by default the repo's .venv is used.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

require_python() {
  if [ ! -x "$PYTHON" ]; then
    echo "error: PYTHON = '$PYTHON' is not executable; create it: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt" >&2
    exit 2
  fi
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
}

# exec_module MODULE ARGS...: replace this shell with `python -m MODULE ARGS...` (exit code passes through).
exec_module() {
  require_python
  local module="$1"
  shift
  exec "$PYTHON" -m "$module" "$@"
}
