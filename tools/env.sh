# Environment for every poc command run from this checkout: `source tools/env.sh`.
# Everything stays inside the project: compiler registry, ape data folder, npm binaries.
_poc_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export POC_ROOT="$_poc_root"
# This checkout's code first, whichever checkout last installed the editable package into the venv
# (git worktrees sharing one .venv would otherwise run each other's `node`).
export PYTHONPATH="$_poc_root${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$_poc_root/.venv/bin:$_poc_root/node_modules/.bin:$PATH"
export SOLCX_BINARY_PATH="$_poc_root/.tools/solcx"
export APE_DATA_FOLDER="$_poc_root/.ape"
export NO_UPDATE_NOTIFIER=1
unset _poc_root
