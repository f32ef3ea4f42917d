#!/usr/bin/env bash
# Install aiocoap (PyPI, pinned) into a private venv, outside the repo, for the differential
# test of the m2mspec CoAP codec (harness/lwm2m/tests/aiocoap_differential.rs).
#
#   harness/lwm2m/tests/aiocoap/setup.sh    # idempotent; a no-op when the pin is installed
#
# Env:
#   M2MSPEC_AIOCOAP_VENV    venv path     (default: $HOME/.cache/m2mspec/aiocoap-venv)
#   M2MSPEC_AIOCOAP_PYTHON  interpreter   (default: python3; CPython >= 3.10)
#
# Prints the venv's python on the last line of stdout.
# On a clean Debian 12 host: apt-get install -y python3 python3-venv
set -euo pipefail

AIOCOAP_VERSION="0.4.17"   # pure Python, no dependencies needed for message encode/decode
VENV="${M2MSPEC_AIOCOAP_VENV:-$HOME/.cache/m2mspec/aiocoap-venv}"
PY="${M2MSPEC_AIOCOAP_PYTHON:-python3}"

if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
    echo "setup.sh: $PY is missing or older than 3.10; aiocoap $AIOCOAP_VERSION needs CPython >= 3.10" >&2
    exit 1
fi

# Tests run in parallel may call this script at the same time: one installs, the others wait.
mkdir -p "$(dirname "$VENV")"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$VENV.lock"
    flock 9
fi

installed_version() {
    "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("aiocoap"))' 2>/dev/null || true
}

if [[ -x "$VENV/bin/python" && "$(installed_version)" == "$AIOCOAP_VERSION" ]]; then
    echo "setup.sh: aiocoap $AIOCOAP_VERSION already installed in $VENV" >&2
else
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$PY" -m venv "$VENV" || {
            echo "setup.sh: venv creation failed (Debian: apt-get install -y python3-venv)" >&2
            exit 1
        }
    fi
    # --no-deps: the message codec needs no optional extras, and nothing else gets pulled in.
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet --no-deps \
        "aiocoap==$AIOCOAP_VERSION" || {
        echo "setup.sh: pip could not install aiocoap==$AIOCOAP_VERSION from PyPI into $VENV" >&2
        exit 1
    }
    if [[ "$(installed_version)" != "$AIOCOAP_VERSION" ]]; then
        echo "setup.sh: aiocoap $AIOCOAP_VERSION did not install correctly into $VENV" >&2
        exit 1
    fi
fi

# Sanity check: the message codec imports.
"$VENV/bin/python" -c 'import aiocoap.message, aiocoap.optiontypes, aiocoap.numbers' >/dev/null

echo "$VENV/bin/python"
