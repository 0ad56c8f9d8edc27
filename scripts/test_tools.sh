#!/usr/bin/env bash
# Installs, from Debian's packages, whatever the test suite uses and the
# machine lacks, in one apt-get step (nothing when nothing is missing).
#
#   bash scripts/test_tools.sh               everything the suite uses
#   bash scripts/test_tools.sh nodejs npm    only these packages, if missing
#
# "Everything" includes PostgreSQL's server unless WXAUTH_TEST_POSTGRES_URL
# names a server to use instead. Runs apt-get through sudo when not root.
set -euo pipefail

# Whether the package's program (or file) is there.
present() {
  case "$1" in
    # The build links libpq (diesel's PostgreSQL backend).
    libpq-dev) compgen -G '/usr/lib/*/libpq.so' >/dev/null || compgen -G '/usr/lib/libpq.so' >/dev/null ;;
    # scripts/test.sh runs its throwaway cluster with these binaries.
    postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || type -P initdb >/dev/null ;;
    # docs/webhooks/verify.js (tests/it/webhooks.rs); the client's tests.
    nodejs) type -P node >/dev/null ;;
    npm) type -P npm >/dev/null ;;
    # docs/webhooks/verify.py; scripts/fuzz_api.sh's virtual environment.
    python3) type -P python3 >/dev/null ;;
    python3-venv) python3 -c 'import ensurepip, venv' 2>/dev/null ;;
    # scripts/fuzz_api.sh; HTTPS for npm and pip.
    curl) type -P curl >/dev/null ;;
    ca-certificates) [ -e /etc/ssl/certs/ca-certificates.crt ] ;;
    # The decryption tests and the nginx test's certificate.
    openssl) type -P openssl >/dev/null ;;
    # `kill` (tests/it/cli.rs, the nginx harness).
    procps) type -P kill >/dev/null ;;
    # tests/it/deploy.rs and scale_out.rs: the site of deploy/nginx; the unit.
    nginx) type -P nginx >/dev/null || [ -x /usr/sbin/nginx ] ;;
    systemd) type -P systemd-analyze >/dev/null ;;
    # tests/it/browser.rs; CJK fonts for its screenshots in Chinese.
    chromium) [ -x "${CHROMIUM:-/usr/bin/chromium}" ] ;;
    chromium-driver) [ -n "${CHROMEDRIVER:-}" ] || type -P chromedriver >/dev/null ;;
    fonts-noto-cjk) compgen -G '/usr/share/fonts/opentype/noto/NotoSansCJK*' >/dev/null \
      || fc-list 2>/dev/null | grep -i 'Noto Sans CJK' >/dev/null ;;
    *) echo "test_tools: no check for package $1" >&2; exit 2 ;;
  esac
}

if [ $# -gt 0 ]; then
  wanted=("$@")
else
  wanted=(libpq-dev nodejs npm python3 python3-venv curl ca-certificates openssl procps
    nginx systemd chromium chromium-driver fonts-noto-cjk)
  [ -n "${WXAUTH_TEST_POSTGRES_URL:-}" ] || wanted+=(postgresql)
fi

missing=()
for package in "${wanted[@]}"; do
  present "$package" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if type -P sudo >/dev/null; then
    as_root=(sudo)
  else
    echo "test_tools: missing ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
if ! type -P apt-get >/dev/null; then
  echo "test_tools: missing ${missing[*]}, and there is no apt-get to install them" >&2
  exit 1
fi
echo "test_tools: installing ${missing[*]} (apt-get)" >&2
# apt's and debconf's chatter is shown only when the step fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
  && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "test_tools: could not install ${missing[*]}" >&2
  exit 1
fi
