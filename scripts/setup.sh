#!/usr/bin/env bash
# Set up songlake in ./.venv on a fresh machine: a virtual environment, torch first, then
# songlake and its dependencies.
#
#   bash scripts/setup.sh            # songlake, editable (changes to the code take effect)
#   bash scripts/setup.sh --test     # ... plus what the tests and benchmarks need
#
# torch comes first and pinned (torch==2.13.0): with no torch present, anything that depends on
# it would pull the newest CUDA build and gigabytes of packages. Set PYTHON to choose the
# interpreter (default python3, 3.11 or newer).
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
for arg in "$@"; do
  case "$arg" in
    --test) extras="[test]" ;;
    *) echo "usage: bash scripts/setup.sh [--test]" >&2; exit 2 ;;
  esac
done

# The tests render ground-truth songs from MIDI with Debian's fluidsynth and General MIDI soundfont,
# run the scaled-out pipeline against a real Redis server, and drive the web UI in Debian's
# chromium (through Playwright, which then downloads no browser of its own).
if [ -n "$extras" ] && { ! command -v fluidsynth >/dev/null || [ ! -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] \
    || ! command -v redis-server >/dev/null || ! command -v chromium >/dev/null; }; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing fluidsynth, fluid-soundfont-gm, redis-server and chromium (Debian packages)"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq fluidsynth fluid-soundfont-gm redis-server chromium >/dev/null
fi

# Duplicates are found by Chromaprint fingerprints at ingest: pyacoustid loads Debian's
# libchromaprint1 (no fpcalc needed).
if ! { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q 'libchromaprint\.so\.1'; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing libchromaprint1 (Debian package, for duplicate detection)"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libchromaprint1 >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check "$@"; }
pip install -q --upgrade pip setuptools wheel
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "setup: installing torch==2.13.0"
  pip install -q torch==2.13.0
fi
echo "setup: installing songlake${extras}"
pip install -q -e ".${extras}"
echo "setup: done; the command is .venv/bin/songlake"
