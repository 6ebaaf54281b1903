#!/bin/sh
# Install the fftk device runtime on a {{BOARD_TITLE}} (the model: deploy.json, bundle/).
#
# Makes a venv next to this script and installs requirements.txt (pinned, no torch) plus the
# fftoolkit wheel in wheels/ with --no-deps. Idempotent: a second run with the same wheel,
# requirements and options does nothing. Needs a 64-bit OS and Python >= 3.10.
#
#   ./install.sh                          # python3, downloads wheels from PyPI
#   ./install.sh --python python3.11      # another interpreter
#   ./install.sh --wheelhouse ~/wheels    # also look for wheels in a folder (pip --find-links)
#   ./install.sh --offline                # never download (pip --no-index)
#   ./install.sh --system-site-packages   # let the venv see the OS's Python packages
#   ./install.sh --site-packages-of PY    # reuse the packages of another Python environment
#                                         #   (offline boards, CI); implies --offline
#   ./install.sh --force                  # reinstall even if nothing changed
#
# Exit codes: 2 bad option, 3 not a 64-bit OS, 4 Python missing/too old/no venv module,
# 5 pip could not install, 6 installed but the runtime does not import.
set -eu
cd "$(dirname "$0")"

PYTHON=python3
VENV=.venv
SYSTEM_SITE=""
REUSE_PY=""
OFFLINE=""
WHEELHOUSE=""
FORCE=""
while [ $# -gt 0 ]; do
    case "$1" in
        --python=*|--wheelhouse=*|--site-packages-of=*)  # --opt=value -> --opt value
            opt=${1%%=*}; value=${1#*=}; shift; set -- "$opt" "$value" "$@"; continue ;;
        --python) PYTHON="$2"; shift 2 ;;
        --wheelhouse) WHEELHOUSE="$2"; shift 2 ;;
        --offline) OFFLINE=1; shift ;;
        --system-site-packages) SYSTEM_SITE=--system-site-packages; shift ;;
        --site-packages-of) REUSE_PY="$2"; OFFLINE=1; shift 2 ;;
        --force) FORCE=1; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see ./install.sh --help)" >&2; exit 2 ;;
    esac
done

fail() { code=$1; shift; echo "install.sh: $*" >&2; exit "$code"; }

# 1. A 64-bit OS: the pinned runtimes have no 32-bit ARM wheels. A 64-bit kernel with a 32-bit
#    userland (Raspberry Pi OS 32-bit on a Pi 4/5) reports aarch64 in uname, so check both.
ARCH=$(uname -m)
BITS=$(getconf LONG_BIT 2>/dev/null || echo unknown)
case "$ARCH" in
    aarch64|arm64|x86_64) ;;
    *) fail 3 "this is a $ARCH system; fftk needs a 64-bit OS (aarch64 or x86_64), e.g. 64-bit Raspberry Pi OS" ;;
esac
[ "$BITS" = 64 ] || fail 3 "the userland is $BITS-bit on a $ARCH kernel; install a 64-bit OS (e.g. Raspberry Pi OS 64-bit)"

# 2. Python >= 3.10, 64-bit.
command -v "$PYTHON" >/dev/null 2>&1 || fail 4 "no Python at '$PYTHON'; install python3 (sudo apt install python3 python3-venv) or pass --python"
"$PYTHON" -c 'import struct, sys; sys.exit(not (sys.version_info >= (3, 10) and struct.calcsize("P") == 8))' \
    || fail 4 "$("$PYTHON" -V 2>&1) at '$PYTHON' is too old or 32-bit; fftk needs a 64-bit Python >= 3.10 (see README.md)"

# 3. The venv: recreated only when the interpreter or the venv options change.
VENV_KEY=$(printf '%s\n' "$("$PYTHON" -c 'import sys; print(sys.executable)')" "$SYSTEM_SITE" "$REUSE_PY" | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.fftk-venv" 2>/dev/null)" != "$VENV_KEY" ]; then
    rm -rf "$VENV"
    echo "fftk: creating $VENV with $("$PYTHON" -V 2>&1)"
    # With --site-packages-of, pip comes from that environment too (pip --python), so the venv
    # skips ensurepip, the slowest part of making one.
    "$PYTHON" -m venv $SYSTEM_SITE ${REUSE_PY:+--without-pip} "$VENV" \
        || { rm -rf "$VENV"; fail 4 "could not create $VENV with '$PYTHON' (Debian/Raspberry Pi OS: sudo apt install python3-venv)"; }
    echo "$VENV_KEY" > "$VENV/.fftk-venv"
fi

# 4. Packages, skipped when the wheel, the requirements and the options are unchanged.
WHEEL=$(ls wheels/fftoolkit-*.whl 2>/dev/null | head -n 1)
[ -n "$WHEEL" ] || fail 5 "no fftoolkit wheel in $(pwd)/wheels (rerun fftk firmware)"
INSTALL_KEY=$(cat requirements.txt "$WHEEL" | sha256sum | cut -d' ' -f1)-$VENV_KEY-$WHEELHOUSE
if [ -z "$FORCE" ] && [ "$(cat "$VENV/.fftk-installed" 2>/dev/null)" = "$INSTALL_KEY" ]; then
    echo "fftk: already installed in $(pwd)/$VENV (same wheel and requirements); nothing to do"
    exit 0
fi
rm -f "$VENV/.fftk-installed"
pip_install() {  # pip install "$@" into the venv, from this script's package sources
    set -- install -q --disable-pip-version-check "$@"
    [ -n "$OFFLINE" ] && set -- "$@" --no-index
    [ -n "$WHEELHOUSE" ] && set -- "$@" --find-links "$WHEELHOUSE"
    if [ -n "$REUSE_PY" ]; then
        "$REUSE_PY" -m pip --python "$VENV/bin/python" "$@"
    else
        "$VENV/bin/python" -m pip "$@"
    fi
}
echo "fftk: installing $(basename "$WHEEL") (no dependencies)"
pip_install --no-deps --force-reinstall "$WHEEL" || fail 5 "pip could not install $WHEEL"
if [ -n "$REUSE_PY" ]; then
    # A .pth line puts the other environment's site-packages on this venv's path (after its own).
    SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$REUSE_PY" -c 'import site; print("\n".join(site.getsitepackages()))' > "$SITE/fftk-reuse.pth" \
        || fail 4 "could not read the site-packages of '$REUSE_PY'"
    echo "fftk: reusing the packages of $REUSE_PY"
fi
echo "fftk: installing requirements.txt"
pip_install -r requirements.txt \
    || fail 5 "pip could not install requirements.txt ($(grep -v '^#' requirements.txt | tr '\n' ' ')); the board needs internet access to PyPI or a --wheelhouse with aarch64 wheels"

# 5. The runtime must import; the unit files get this folder's path and user (filled in by
#    Python, escaped for systemd: no value from outside is ever shell or unit syntax).
"$VENV/bin/python" fftk_board.py check || fail 6 "installed, but the runtime does not import (see above)"
"$VENV/bin/python" fftk_board.py units || echo "install.sh: no systemd units written (see above); the runtime works without them" >&2
echo "$INSTALL_KEY" > "$VENV/.fftk-installed"
echo "fftk: ready in $(pwd) (systemd units for this folder in systemd/, see README.md)"
