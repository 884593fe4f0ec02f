#!/usr/bin/env bash
# Install faxd as a systemd service on a Debian/Ubuntu server, from this checkout.
#
#   sudo scripts/install.sh            install or upgrade (safe to run again)
#   scripts/install.sh --dry-run       print what it would do, change nothing
#
# It enables the service but does not start it: fill in the credentials and the
# configuration first (the script prints the next steps).
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: install.sh [--dry-run] [--no-apt]

  --dry-run   print every change it would make, and make none
  --no-apt    do not install Debian packages (python3-venv, python3-systemd)

Environment: PYTHON (default python3), the interpreter the venv is built from.
EOF
}

DRY_RUN=0
USE_APT=1
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        --no-apt) USE_APT=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown option '$arg'." >&2; usage >&2; exit 2 ;;
    esac
done

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
USER_NAME=faxd
ETC=/etc/faxd
CREDENTIALS=$ETC/credentials
CREDENTIAL_NAMES=(docs-api-key retarus-password)
SPOOL=/srv/fax
# Every folder config/faxd.example.yaml names (a test keeps the two in step); parents first.
SPOOL_DIRS=(out scanner abroad inbox inbox/support inbox/orders sent failed hold records)
VENV=/opt/faxd
BIN_LINK=/usr/local/bin/faxd
UNIT_SRC=$SRC/systemd/faxd.service
UNIT_DST=/etc/systemd/system/faxd.service
EXAMPLE_CONFIG=$SRC/config/faxd.example.yaml

# Every change goes through `run`, so --dry-run shows exactly what a real run would do.
run() {
    if ((DRY_RUN)); then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- preconditions
if ((!DRY_RUN)) && ((EUID != 0)); then
    die "must run as root (sudo $0), or with --dry-run to see what it would do."
fi
[[ -f $UNIT_SRC ]] || die "$UNIT_SRC is missing: run this script from a faxd checkout."
if [[ ! -f $EXAMPLE_CONFIG ]]; then
    if ((DRY_RUN)); then
        say "# warning: $EXAMPLE_CONFIG is missing; a real run would stop here."
    else
        die "$EXAMPLE_CONFIG is missing: run this script from a complete faxd checkout."
    fi
fi

# ------------------------------------------------------------- Debian packages
# python3-systemd comes from Debian because systemd-python has no wheels on PyPI and
# would otherwise need a compiler and libsystemd-dev; the venv sees it through
# --system-site-packages. The fonts draw the report PDFs' file names in any script.
if ((USE_APT)) && command -v apt-get >/dev/null 2>&1; then
    missing=()
    for pkg in python3 python3-venv python3-systemd fonts-dejavu-core fonts-droid-fallback; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        run apt-get update
        run apt-get install -y --no-install-recommends "${missing[@]}"
    fi
fi

if command -v "$PYTHON" >/dev/null 2>&1; then
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        msg="$PYTHON is older than 3.11, which faxd needs; set PYTHON=/path/to/python3.11 or newer."
        if ((DRY_RUN)); then say "# warning: $msg"; else die "$msg"; fi
    fi
elif ((!DRY_RUN)); then
    die "$PYTHON not found: install Python 3.11 or newer, or set PYTHON=/path/to/python3."
fi

# --------------------------------------------------------------- user and group
if ! getent group "$USER_NAME" >/dev/null; then
    run groupadd --system "$USER_NAME"
fi
if ! getent passwd "$USER_NAME" >/dev/null; then
    run useradd --system --gid "$USER_NAME" --home-dir /var/lib/faxd --no-create-home \
        --shell /usr/sbin/nologin --comment "faxd fax spool daemon" "$USER_NAME"
fi

# ------------------------------------------------------ configuration and secrets
run install -d -o root -g "$USER_NAME" -m 0750 "$ETC"
if [[ ! -e $ETC/faxd.yaml ]]; then
    run install -o root -g "$USER_NAME" -m 0640 "$EXAMPLE_CONFIG" "$ETC/faxd.yaml"
fi
run install -d -o root -g root -m 0700 "$CREDENTIALS"
# LoadCredential= refuses to start the unit when a file is missing, so each exists,
# empty until the admin fills in the one the configuration uses.
for name in "${CREDENTIAL_NAMES[@]}"; do
    if [[ ! -e $CREDENTIALS/$name ]]; then
        run install -o root -g root -m 0600 /dev/null "$CREDENTIALS/$name"
    fi
done

# ---------------------------------------------------------------- fax folders
# setgid and group-writable: office users and the scanner account join group faxd,
# and everything created below keeps that group.
run install -d -o root -g "$USER_NAME" -m 0750 "$SPOOL"
for dir in "${SPOOL_DIRS[@]}"; do
    run install -d -o "$USER_NAME" -g "$USER_NAME" -m 2770 "$SPOOL/$dir"
done
# /var/lib/faxd is created by systemd itself (StateDirectory=faxd).

# --------------------------------------------------------------- program
if [[ ! -x $VENV/bin/python ]]; then
    run "$PYTHON" -m venv --system-site-packages "$VENV"
fi
run "$VENV/bin/pip" install --quiet --upgrade "${SRC}[systemd]"
run ln -sfn "$VENV/bin/faxd" "$BIN_LINK"

# --------------------------------------------------------------- service
run install -o root -g root -m 0644 "$UNIT_SRC" "$UNIT_DST"
if [[ -d /run/systemd/system ]] || ((DRY_RUN)); then
    run systemctl daemon-reload
    run systemctl enable faxd.service
else
    say "# systemd is not running here: skipped 'systemctl daemon-reload' and 'systemctl enable faxd'."
fi

if ((DRY_RUN)); then
    say "# dry run: nothing was changed. Without --dry-run, as root, the steps above run."
fi
cat <<EOF

faxd is installed and enabled, but not started. Next steps:
  1. Put the API key or password into $CREDENTIALS/ (docs-api-key, retarus-password;
     root-only files, passed to faxd through \$CREDENTIALS_DIRECTORY).
  2. Edit $ETC/faxd.yaml (folders, provider, sender number), then check it:
       sudo CREDENTIALS_DIRECTORY=$CREDENTIALS $BIN_LINK check-config --config $ETC/faxd.yaml
  3. Let people and the scanner account use the folders in $SPOOL:
       sudo usermod -aG $USER_NAME alice
     Folders outside $SPOOL need 'systemctl edit faxd' with ReadWritePaths=.
  4. Start it and watch the log:
       sudo systemctl start faxd && journalctl -u faxd -f
  After an upgrade of a running faxd: sudo systemctl restart faxd
EOF
