#!/usr/bin/env bash
# Run every test: the package tests in tests/ and every notebook in chapters/ and appendix/, the
# notebooks re-executed by nbval in strict mode (--nbval: every stored output must match).
# Extra arguments go to pytest (e.g. -x, -k adam). If one of them is a path
# (bash scripts/test.sh chapters/06_adam.ipynb), only the given paths are tested.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$OPTLAB_ROOT"

export MPLBACKEND=Agg      # the package tests never open a window; notebooks keep "inline"
export PYTHONHASHSEED=0    # str/set hashing, hence iteration orders, the same on every run

paths=(tests)
[[ -d chapters ]] && paths+=(chapters)   # git does not keep an empty chapters/
[[ -d appendix ]] && paths+=(appendix)
for arg in "$@"; do
    if [[ "$arg" != -* && -e "$arg" ]]; then paths=(); break; fi   # caller chose the paths
done
exec "$PY" -m pytest -n "${OPTLAB_TEST_WORKERS:-2}" --dist loadscope --no-loadscope-reorder --nbval --nbval-sanitize-with sanitize.cfg ${paths[@]+"${paths[@]}"} "$@"
