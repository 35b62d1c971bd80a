# Sourced by scripts/serve and scripts/test: make .venv hold exactly what
# pyproject.toml asks for. Reinstalls only when pyproject.toml changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BACKLINE_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
extras="${1:-}"

if ! command -v "$PY" >/dev/null 2>&1; then
  echo "bootstrap: $PY not found; install Python >= 3.11 (apt-get install -y python3 python3-venv)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating virtualenv in $VENV" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
stamp="$VENV/.backline-installed${extras:+-$extras}"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing backline${extras:+[$extras]} into $VENV" >&2
  "$VENV/bin/python" -m pip install -q -e "$ROOT${extras:+[$extras]}"
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
