#!/usr/bin/env bash
# Install what the tests need, then run them (arguments go to pytest).
#
# The browser tests drive Debian's Chromium, the screenshots need a CJK font, and the
# QR and PDF tests read their output back with poppler and zbar; a new machine has
# none of them. As root they are installed with apt; otherwise this says which command
# to run. Then the Python packages of the "test" extra are installed into the
# Python in use (a virtualenv, if one is active) and pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)  # reads PDFs back
command -v zbarimg >/dev/null 2>&1 || missing+=(zbar-tools)  # decodes QR codes back
# (grep without -q reads all of fc-list's output: with pipefail, -q's early exit would
# fail the pipeline on SIGPIPE and report the font missing.)
if ! { command -v fc-list >/dev/null 2>&1 && fc-list 2>/dev/null | grep -i "Noto Sans CJK" >/dev/null; }; then
    missing+=(fonts-noto-cjk)
fi
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        echo "installing Debian packages the tests need: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        echo "installing Debian packages the tests need: ${missing[*]}"
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "The browser tests need Debian packages that are not installed: ${missing[*]}" >&2
        echo "Install them as root, then run this again:" >&2
        echo "    sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

"$PYTHON" -m pip install -q -e '.[test]'
exec "$PYTHON" -m pytest "$@"
