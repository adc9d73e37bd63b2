# Sourced by the test scripts (and usable by hand: `. scripts/env.sh`): puts the project's
# Python venv (.venv/, made by scripts/setup.sh) and, when setup installed one, its Go
# toolchain (.go/) first in PATH, so `python3`, `pip` and `go` are those everywhere below,
# including in the Rust and Go tests that start Python.
_sutra_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -x "$_sutra_root/.go/bin/go" ]; then
  export PATH=$_sutra_root/.go/bin:$PATH
fi
if [ -x "$_sutra_root/.venv/bin/python3" ]; then
  export VIRTUAL_ENV=$_sutra_root/.venv
  export PATH=$VIRTUAL_ENV/bin:$PATH
fi
unset _sutra_root
