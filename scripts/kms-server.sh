#!/usr/bin/env bash
# A KMS-compatible server for vouch's tests: moto (from PyPI, pinned) in server mode, which
# speaks the real AWS KMS API (TrentService JSON 1.1: CreateKey, Encrypt, Decrypt, ...).
#
#   scripts/kms-server.sh install            create target/kms-venv and install moto[server]
#                                            (idempotent: does nothing when already there)
#   scripts/kms-server.sh start [WATCH_PID]  install if needed, start moto_server on a free
#                                            loopback port in the background, wait until it
#                                            answers, print `VOUCH_KMS_ENDPOINT=http://…`
#                                            and `VOUCH_KMS_PID=<pid>` on stdout. With
#                                            WATCH_PID the server is stopped once that
#                                            process has exited (test binaries pass their
#                                            own pid, so no server outlives its tests).
#
# Exits non-zero with the reason on stderr when python3/venv/pip or the server fail; tests
# turn that into a failure, never a skip. Environment: KMS_VENV (default
# <repo>/target/kms-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/servers.sh

MOTO_VERSION="5.2.5"
venv="${KMS_VENV:-$PWD/target/kms-venv}"
stamp="$venv/.moto-$MOTO_VERSION"

install() {
  if [ -x "$venv/bin/moto_server" ] && [ -f "$stamp" ]; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || { echo "kms-server: python3 not found" >&2; exit 1; }
  mkdir -p "$(dirname "$venv")"
  # A lock so concurrent test binaries do not install into the same venv at once.
  exec 9>"$venv.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if [ -x "$venv/bin/moto_server" ] && [ -f "$stamp" ]; then
    return 0
  fi
  echo "kms-server: installing moto[server]==$MOTO_VERSION into $venv" >&2
  if ! python3 -m venv "$venv" >&2; then
    # Debian's python3 ships venv separately.
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      rm -rf "$venv"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >&2 ||
        { DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >&2; }
    fi
    if ! python3 -m venv "$venv" >&2; then
      echo "kms-server: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" >&2
  touch "$stamp"
}

start() {
  local watch="${1:-}"
  install
  local port
  port="$(free_port)"
  local log="$venv/server-$port.log"
  # setsid: the server is not in the caller's process group (a test harness killing its
  # group must not leave us half-dead); it is stopped by the watcher below instead.
  setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 </dev/null &
  local pid=$!
  local endpoint="http://127.0.0.1:$port"
  wait_for kms-server "$pid" "$log" http_answers "$endpoint/moto-api/"
  stop_when_gone "$watch" "$pid"
  echo "VOUCH_KMS_ENDPOINT=$endpoint"
  echo "VOUCH_KMS_PID=$pid"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "${1:-}" ;;
  *) echo "usage: scripts/kms-server.sh install | start [WATCH_PID]" >&2; exit 2 ;;
esac
