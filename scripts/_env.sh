# shellcheck shell=bash
# Shared bootstrap for scripts/build.sh and scripts/test.sh: source it, don't run it.
#
# After sourcing:
#   OPTLAB_ROOT  the repository root (absolute), whatever the caller's cwd
#   VENV         $OPTLAB_ROOT/.venv, created with `python3 -m venv` when missing
#   PY           $VENV/bin/python
# and the venv holds requirements.txt + `pip install -e .` + the project's Jupyter kernel.
#
# The install step is skipped when the stamp file records the same inputs (requirements.txt,
# pyproject.toml, this file, the interpreter) as the last successful install, so re-runs are
# quick and never touch the network. Only the package index is ever contacted.

OPTLAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$OPTLAB_ROOT/.venv"
PY="$VENV/bin/python"
export OPTLAB_ROOT VENV PY

_optlab_stamp="$VENV/.optlab-install-stamp"

if [[ ! -x "$PY" ]]; then
    echo "[optlab] creating virtual environment $VENV" >&2
    "${PYTHON:-python3}" -m venv "$VENV" || {
        echo "[optlab] 'python3 -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
        return 1 2>/dev/null || exit 1
    }
fi

_optlab_kernel_json="$VENV/share/jupyter/kernels/python3/kernel.json"

_optlab_install_kernel() {
    # The project kernel: the "python3" kernelspec inside the venv, which the book build
    # (myst-nb), nbval and any Jupyter started from this venv all use. Written by ipykernel's
    # own installer (the kernel.json shipped in the ipykernel wheel is a bare default), then:
    #  * -Xfrozen_modules=off (added by the installer) is the fix debugpy asks for in its
    #    "Debugger warning: It seems that frozen modules are being used" message.
    #  * --IPKernelApp.log_level=ERROR: ipykernel 7.4 logs "WARNING | Kernel is running over
    #    TCP without encryption" at every kernel start, i.e. once per notebook in the build log.
    #    The kernel talks to its client over 127.0.0.1; encryption or IPC would have to be
    #    requested by the client (jupyter_client's KernelManager.transport_encryption), which
    #    myst-nb and nbval do not expose, so the kernel is told not to log warnings. Errors
    #    still show; notebook output (stdout/stderr of cells) is unaffected.
    #  * MPLBACKEND pins matplotlib's inline backend inside notebooks, so that scripts/test.sh
    #    can export MPLBACKEND=Agg for the package tests without changing what notebooks show.
    "$PY" - <<'PYEOF'
import json
import sys
from pathlib import Path

from ipykernel.kernelspec import install

path = Path(install(kernel_name="python3", prefix=sys.prefix, display_name="Python 3 (optlab)",
                    env={"MPLBACKEND": "module://matplotlib_inline.backend_inline"}))
spec = json.loads((path / "kernel.json").read_text())
spec["argv"].append("--IPKernelApp.log_level=ERROR")
(path / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
PYEOF
}

# Everything the install depends on; a change in any of these reinstalls.
_optlab_want="$("$PY" -c '
import hashlib, sys
h = hashlib.sha256((sys.version + sys.executable).encode())
for name in sys.argv[1:]:
    with open(name, "rb") as f:
        h.update(f.read())
print(h.hexdigest())
' "$OPTLAB_ROOT/requirements.txt" "$OPTLAB_ROOT/constraints.txt" "$OPTLAB_ROOT/pyproject.toml" \
  "${BASH_SOURCE[0]}")"

if [[ ! -f "$_optlab_stamp" || "$(cat "$_optlab_stamp")" != "$_optlab_want" ]]; then
    echo "[optlab] installing requirements.txt and optlab (editable) into $VENV" >&2
    rm -f "$_optlab_stamp"
    "$PY" -m pip install --disable-pip-version-check -q \
        -r "$OPTLAB_ROOT/requirements.txt" -c "$OPTLAB_ROOT/constraints.txt" -e "$OPTLAB_ROOT"
    _optlab_install_kernel
    echo "$_optlab_want" > "$_optlab_stamp"
fi

# Someone may have reinstalled ipykernel, which puts its bare kernel.json back.
if ! grep -q 'IPKernelApp.log_level' "$_optlab_kernel_json" 2>/dev/null; then
    _optlab_install_kernel
fi

unset _optlab_stamp _optlab_want _optlab_kernel_json
unset -f _optlab_install_kernel
