#!/usr/bin/env bash
# Install butlerd as a system service, from this checkout, as root:
#   sudo deploy/install.sh                 # /opt/butlers, user `butlers`, unit in /etc/systemd/system
# Re-run it to upgrade after `git pull`: it keeps modules you installed into the venv.
#
# What it makes sure of (each was a way to get a service that cannot start):
# - the venv's Python is one the service user can execute: a system Python
#   (/usr/bin/python3), never one under root's home (pyenv, uv's managed Pythons);
# - only the runtime dependencies are installed (--no-dev), and packages added
#   by hand (your own modules, docs/extending.md) are kept (--inexact);
# - the service user can read and run everything, and write nothing of the code.
set -euo pipefail

SOURCE="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${PREFIX:-/opt/butlers}"
SERVICE_USER="${SERVICE_USER:-butlers}"
DATA_DIR="${DATA_DIR:-/var/lib/butlers}"
UNIT_DIR="${UNIT_DIR:-/etc/systemd/system}"
PYTHON="${PYTHON:-/usr/bin/python3}"
ETC_DIR="${ETC_DIR:-/etc/butlers}"

die() { echo "install.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (it creates a user and installs a system unit)"
command -v uv >/dev/null || die "uv not found: pip install uv (or see https://docs.astral.sh/uv/)"
[ -x "$PYTHON" ] || die "$PYTHON not found: install python3 (3.11 or newer) or set PYTHON=/path/to/python3"

if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --home-dir "$DATA_DIR" --shell /usr/sbin/nologin "$SERVICE_USER"
fi

if [ "$SOURCE" != "$PREFIX" ]; then
    install -d -m 755 "$PREFIX"
    # The code, without the checkout's venv, history or tool caches (bytecode is compiled below).
    tar -C "$SOURCE" --exclude=./.venv --exclude=./.git --exclude=./.hypothesis --exclude=./.pytest_cache \
        --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=__pycache__ -cf - . | tar -C "$PREFIX" -xf -
fi

cd "$PREFIX"
export UV_PYTHON_DOWNLOADS=never UV_CACHE_DIR="${UV_CACHE_DIR:-/var/cache/butlers-uv}"
# --compile-bytecode: the service sees the venv read-only (ProtectSystem=strict) and could never
# write its .pyc files, so every start would compile all of Python again (seconds; docs/benchmarks.md).
uv sync --frozen --no-dev --inexact --compile-bytecode --python "$PYTHON"
"$PREFIX/.venv/bin/python" -m compileall -q "$PREFIX/src"   # the project itself is an editable install
chown -R root:root "$PREFIX"
chmod -R u+rwX,go+rX,go-w "$PREFIX"

runuser -u "$SERVICE_USER" -- "$PREFIX/.venv/bin/butlerd" --version >/dev/null \
    || die "user $SERVICE_USER cannot run $PREFIX/.venv/bin/butlerd (is $PYTHON readable by that user?)"

install -d -m 700 "$ETC_DIR" "$ETC_DIR/credentials"
if [ -d "$UNIT_DIR" ]; then
    sed -e "s#/opt/butlers#$PREFIX#g" -e "s#^User=butlers#User=$SERVICE_USER#" -e "s#^Group=butlers#Group=$SERVICE_USER#" \
        "$PREFIX/deploy/butlerd.service" > "$UNIT_DIR/butlerd.service"
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl daemon-reload
    fi
fi
echo "installed butlerd $("$PREFIX/.venv/bin/butlerd" --version | cut -d' ' -f2) in $PREFIX for user $SERVICE_USER"
echo "next: put secrets in $ETC_DIR/butlers.env or $ETC_DIR/credentials/, then: systemctl enable --now butlerd"
