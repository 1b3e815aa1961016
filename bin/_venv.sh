# Shared by bin/run and bin/test: a Python 3.11+ virtualenv in .venv with the project installed.
ensure_venv() {
  local extra="$1" python=""
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python="$candidate"; break
    fi
  done
  if [ -z "$python" ]; then echo "ContentFlow needs Python 3.11 or newer" >&2; exit 1; fi
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  local stamp=".venv/.installed${extra}"
  if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
    echo "installing ContentFlow${extra} into .venv ..." >&2
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
    .venv/bin/python -m pip install --quiet -e ".${extra}" >&2
    touch "$stamp"
  fi
}
