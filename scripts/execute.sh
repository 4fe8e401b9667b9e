#!/usr/bin/env bash
# Re-execute notebooks in place, top to bottom in one fresh kernel, storing their outputs (what
# nbval strict then compares). Run after changing a chapter or src/optlab:
#   bash scripts/execute.sh chapters/06_adam.ipynb [more notebooks...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
export PYTHONHASHSEED=0
for notebook in "$@"; do
    (cd "$(dirname "$notebook")" && "$VENV/bin/jupyter-execute" --inplace --timeout=600 "$(basename "$notebook")")
done
