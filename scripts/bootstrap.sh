#!/usr/bin/env bash
# Creates (once) the Python environment of Tianwang and installs the project into it.
#
# The environment lives outside the checkout, in ${TIANWANG_VENV:-~/.cache/tianwang/venv}, so that
# every clone on a machine shares it and torch (several GB) is downloaded once per machine, not per
# clone or per run. A stamp of pyproject.toml and the checkout path makes a second run a no-op.
#
#   scripts/bootstrap.sh          runtime + dev dependencies
# Prints nothing but errors and what it installs; exits non-zero when an install fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${TIANWANG_VENV:-$HOME/.cache/tianwang/venv}"
python="${TIANWANG_PYTHON:-python3}"

say() { printf 'bootstrap: %s\n' "$*" >&2; }

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  say "Python 3.11 or newer is needed (found: $("$python" --version 2>&1)); set TIANWANG_PYTHON"
  exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
  say "creating the environment in $venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
fi

stamp="$venv/.tianwang-stamp"
want="$(sha256sum "$here/pyproject.toml" | cut -c1-16) $here"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c 'import tianwang' 2>/dev/null; then
  exit 0
fi

if [ ! -x "$venv/bin/uv" ]; then
  "$venv/bin/python" -m pip install --quiet 'uv>=0.4' >&2
fi
# uv leaves installed packages that already satisfy the requirements alone: torch is never
# downloaded twice. A local wheel folder that pip is configured with (PIP_FIND_LINKS, for example
# a CPU build of torch) is offered to uv too.
find_links=()
if [ -n "${PIP_FIND_LINKS:-}" ] && [ -d "${PIP_FIND_LINKS}" ]; then
  find_links=(--find-links "$PIP_FIND_LINKS")
fi
say "installing tianwang and its dependencies into $venv (torch is large the first time)"
VIRTUAL_ENV="$venv" "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" "${find_links[@]}" \
  -e "$here[dev,bench]" >&2
echo "$want" > "$stamp"
