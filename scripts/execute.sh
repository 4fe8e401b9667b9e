#!/usr/bin/env bash
# Re-execute notebooks in place, top to bottom in one fresh kernel, storing their outputs (what
# nbval strict then compares). Run after changing a chapter or src/optlab:
#   bash scripts/execute.sh chapters/06_adam.ipynb [more notebooks...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
export PYTHONHASHSEED=0
# Interactive figures (optlab.interactive) store markup that loads their JavaScript from the
# site's _static folder, one level up from chapters/ and appendix/, instead of carrying 1.5 MB of
# it in the notebook (_config.yml serves src/optlab/interactive/static there).
export OPTLAB_FIGURE_STATIC="${OPTLAB_FIGURE_STATIC:-../_static}"
for notebook in "$@"; do
    (cd "$(dirname "$notebook")" && "$VENV/bin/jupyter-execute" --inplace --timeout=600 "$(basename "$notebook")")
done
