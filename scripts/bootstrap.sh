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
want="$(cat "$ROOT/pyproject.toml" "$ROOT/bridges/link/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing backline${extras:+[$extras]} into $VENV" >&2
  "$VENV/bin/python" -m pip install -q -e "$ROOT${extras:+[$extras]}"
  if [ "$extras" = "test" ]; then
    # the optional Ableton Link bridge (GPL, its own distribution: bridges/link) is
    # tested too; Backline itself never imports it
    "$VENV/bin/python" -m pip install -q -e "$ROOT/bridges/link"
  fi
  echo "$want" > "$stamp"
fi
# test_tool COMMAND PACKAGE WHAT: the tests named WHAT run their own COMMAND
# processes (never the Debian package's service): install PACKAGE when missing.
test_tool() {
  [ "$extras" = "test" ] || return 0
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing $2 for $3 (apt-get install -y $2)" >&2
    apt-get update -qq  # separate commands: set -e does not stop on the left of an &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"
  else
    echo "bootstrap: $1 not found; $3 need it: run as root" \
      "'apt-get update && apt-get install -y $2'" >&2
    exit 1
  fi
}
# tests/web drive Debian's Chromium through Playwright; Playwright's own browser
# download cannot be used, so never run `playwright install`.
test_tool chromium chromium "the browser tests"
# the Redis tests (tests/server/test_redis_*.py, the Redis params of the store and bus
# suites, the local Redis Cluster) start their own redis-server processes
test_tool redis-server redis-server "the Redis tests"
test_tool redis-cli redis-tools "the Redis Cluster tests"
# tests/integration/test_caddy_proxy.py: caddy with Caddy's local CA
test_tool caddy caddy "the reverse-proxy tests"
# tests/integration/test_turn_relay.py: coturn's turnserver on loopback (testing/turn.py)
test_tool turnserver coturn "the TURN tests"
# tests/integration/test_haproxy_affinity.py: haproxy on loopback (testing/haproxy.py)
test_tool haproxy haproxy "the affinity tests"
# Instruments: FluidSynth renders every note from a General MIDI SoundFont
# (media/soundfont.py); without them the browser falls back to its built-in synth
# and renders are refused. Needed by `serve` and by the tests.
if ! ldconfig -p 2>/dev/null | grep -q libfluidsynth || [ ! -e /usr/share/sounds/sf2/TimGM6mb.sf2 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing FluidSynth and a GM SoundFont (apt-get install -y libfluidsynth3 timgm6mb-soundfont)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfluidsynth3 timgm6mb-soundfont
  else
    echo "bootstrap: FluidSynth or the SoundFont is missing; instruments need them: run as root" \
      "'apt-get update && apt-get install -y libfluidsynth3 timgm6mb-soundfont'" >&2
    [ "$extras" = "test" ] && exit 1
  fi
fi
# The MIDI import test (tests/media/test_midi_import.py) reads real-world MIDI files
# nobody here wrote: the openMSX music set in Debian's openttd-openmsx.
if [ "$extras" = "test" ] && [ ! -d /usr/share/games/openttd/baseset/openmsx ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing MIDI files for the import test (apt-get install -y openttd-openmsx)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openttd-openmsx
  else
    echo "bootstrap: the MIDI import test needs Debian's openttd-openmsx: run as root" \
      "'apt-get update && apt-get install -y openttd-openmsx'" >&2
    exit 1
  fi
fi
export PATH="$VENV/bin:$PATH"
