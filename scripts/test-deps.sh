#!/usr/bin/env bash
# The system packages the tests need, installed with apt when missing: ZooKeeper + Java (store contract suite),
# PostgreSQL (the catalog's adapter and anti-entropy tests), Mosquitto (external-broker test) and Chromium (e2e).
# Run by `npm test` (pretest) and .ci/run. Silent, a few milliseconds of shell built-ins, when all is present.
# Honours the same overrides as the tests: ZOOKEEPER_JARS, JAVA, PG_BIN (the directory holding initdb and pg_ctl;
# default: the newest /usr/lib/postgresql/<version>/bin), MOSQUITTO_PATH, CHROMIUM_PATH.
set -euo pipefail

# Debian installs the server binaries outside PATH, one directory per major version.
has_postgres() {
  if [ -n "${PG_BIN:-}" ]; then
    [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]
    return
  fi
  local bin
  for bin in /usr/lib/postgresql/*/bin; do
    [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && return 0
  done
  return 1
}

detect() {
  missing=()
  [ -f "${ZOOKEEPER_JARS:-/usr/share/java}/zookeeper.jar" ] || missing+=(zookeeper)
  command -v "${JAVA:-java}" >/dev/null 2>&1 || missing+=(default-jre-headless)
  has_postgres || missing+=(postgresql)
  [ -x "${MOSQUITTO_PATH:-/usr/sbin/mosquitto}" ] || missing+=(mosquitto)
  command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
}

detect
[ ${#missing[@]} -eq 0 ] && exit 0

install_cmd="sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
as_root=()
if [ "$(id -u)" -eq 0 ]; then
  as_root=(env)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n env)
fi

if [ ${#as_root[@]} -eq 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  {
    echo "test-deps: the tests need system packages that are not installed: ${missing[*]}"
    if command -v apt-get >/dev/null 2>&1; then
      echo "test-deps: this user cannot install them (not root, no passwordless sudo). Run:"
      echo
      echo "  $install_cmd"
    else
      echo "test-deps: no apt-get here; install the equivalents of these Debian packages with your package manager."
    fi
    echo
  } >&2
  exit 1
fi

echo "test-deps: installing ${missing[*]} (apt)" >&2
apt=("${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=300)
"${apt[@]}" update >/dev/null
"${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null

detect
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-deps: still missing after apt-get install: ${missing[*]}" >&2
  exit 1
fi
