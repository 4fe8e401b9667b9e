#!/usr/bin/env bash
# Build the book into _build/html. Warnings are errors (-W), references are checked (-n).
# The old site is removed and every page rebuilt (--all), so no page of a chapter taken out of
# _toc.yml lingers. Notebooks are shown with their stored outputs (_config.yml explains why);
# the test command checks that those outputs reproduce.
# Extra arguments go to `jupyter-book build`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$OPTLAB_ROOT"
rm -rf _build/html _build/.doctrees
exec "$VENV/bin/jupyter-book" build . --all -W -n --keep-going "$@"
