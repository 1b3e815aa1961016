# Shared by bin/run and bin/test: a Python 3.11+ virtualenv in .venv with the project installed.
# What pip and setuptools print goes to instance/install.log, shown only when the install fails.
ensure_venv() {
  local extra="$1" python="" log="instance/install.log"
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python="$candidate"; break
    fi
  done
  if [ -z "$python" ]; then echo "ContentFlow needs Python 3.11 or newer" >&2; exit 1; fi
  local stamp=".venv/.installed${extra}"
  if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ ! setup.cfg -nt "$stamp" ]; then
    return 0
  fi
  mkdir -p instance
  echo "installing ContentFlow${extra} into .venv (log: ${log}) ..." >&2
  if ! {
    { [ -x .venv/bin/python ] || "$python" -m venv .venv; } \
      && .venv/bin/python -m pip install --upgrade pip \
      && .venv/bin/python -m pip install -e ".${extra}"
  } >"$log" 2>&1; then
    echo "installing ContentFlow${extra} failed; the last lines of ${log}:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  touch "$stamp"
}
