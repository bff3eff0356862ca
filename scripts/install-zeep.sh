#!/usr/bin/env bash
# Installs the Python packages of the zeep agency client (tests/zeep/requirements.txt) for
# `python3`, unless every pinned version is already installed and zeep and xmlsec import.
# Binary wheels only: xmlsec's manylinux wheel bundles libxmlsec1, so nothing is compiled.
# Debian's own python3 is "externally managed" (PEP 668); there pip needs
# --break-system-packages to install for it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUIREMENTS="$ROOT/tests/zeep/requirements.txt"
PYTHON="${PYTHON:-python3}"

ready() {
    "$PYTHON" - "$REQUIREMENTS" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version

for line in open(sys.argv[1], encoding="utf-8"):
    requirement = line.split("#")[0].strip()
    if requirement:
        name, pinned = requirement.split("==")
        if version(name) != pinned:
            sys.exit(1)
import cryptography, xmlsec, zeep  # noqa: E401,F401  (xmlsec checks lxml's libxml2 here)
PY
}

if ready; then
    echo "install-zeep.sh: zeep and xmlsec already installed"
    exit 0
fi

args=(--quiet --disable-pip-version-check --no-input --only-binary=:all: -r "$REQUIREMENTS")
if "$PYTHON" -c 'import pathlib, sys, sysconfig
sys.exit(not (pathlib.Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").exists())'; then
    args+=(--break-system-packages)
fi
"$PYTHON" -m pip install "${args[@]}"

if ! ready; then
    echo "install-zeep.sh: ERROR: zeep and xmlsec still do not import at the pinned versions" >&2
    exit 1
fi
echo "install-zeep.sh: installed tests/zeep/requirements.txt"
