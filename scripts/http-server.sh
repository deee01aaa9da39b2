#!/usr/bin/env bash
# An HTTP storage server for vouch's tests: WsgiDAV (PyPI, pinned, on the cheroot server),
# a WebDAV server on a folder, installed into a venv under target/. It serves GET, HEAD and
# ranged GETs, takes PUT (and MKCOL for folders), lists with PROPFIND, and evaluates
# `If-None-Match: *` on PUT (412 when the name is taken).
#
# WsgiDAV checks `If-None-Match` and then writes, in two steps, on one thread per request:
# two racing conditional PUTs can both pass the check. The server started here therefore
# runs one worker thread (requests one at a time), so a conditional create is atomic, as
# on a server that locks the name.
#
#   scripts/http-server.sh install               install WsgiDAV (idempotent)
#   scripts/http-server.sh start [WATCH_PID]     serve a new folder under target/http-server
#                                                on a free loopback port, anonymous
#                                                read-write, and print
#                                                `VOUCH_HTTP_ENDPOINT=http://127.0.0.1:<port>`
#                                                and `VOUCH_HTTP_PID=<pid>` on stdout
# With WATCH_PID the server is stopped (by its pid), and its folder removed, once that
# process has exited. Exits non-zero with the reason on stderr when the server cannot
# start; tests turn that into a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

WSGIDAV_VERSION="4.4.0"
CHEROOT_VERSION="11.1.2"
venv="$PWD/target/http-venv"
root="$PWD/target/http-server"
stamp="$venv/.wsgidav-$WSGIDAV_VERSION-cheroot-$CHEROOT_VERSION"

install() {
  if [ -x "$venv/bin/wsgidav" ] && [ -f "$stamp" ]; then return 0; fi
  command -v python3 >/dev/null 2>&1 || { echo "http-server: python3 not found" >&2; exit 1; }
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if [ -x "$venv/bin/wsgidav" ] && [ -f "$stamp" ]; then return 0; fi
  echo "http-server: installing wsgidav==$WSGIDAV_VERSION into $venv" >&2
  # python3-venv is installed by scripts/kms-server.sh install when missing.
  python3 -m venv "$venv" >&2 || { echo "http-server: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "wsgidav==$WSGIDAV_VERSION" "cheroot==$CHEROOT_VERSION" >&2
  touch "$stamp"
}

start() {
  local watch="${1:-}"
  install
  mkdir -p "$root"
  local port data
  port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  data="$(mktemp -d "$root/data.XXXXXX")"
  echo '{"server_args": {"numthreads": 1}}' >"$data.json"
  setsid "$venv/bin/wsgidav" --host 127.0.0.1 --port "$port" --root "$data" \
    --auth anonymous --config "$data.json" -q >"$data.log" 2>&1 </dev/null &
  local pid=$!
  local endpoint="http://127.0.0.1:$port"
  local i=0
  until "$venv/bin/python" - "$endpoint" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/", method="HEAD"), timeout=1)
PY
  do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "http-server: WsgiDAV exited at startup; log $data.log:" >&2
      tail -n 20 "$data.log" >&2
      exit 1
    fi
    i=$((i + 1))
    if [ "$i" -ge 300 ]; then
      echo "http-server: WsgiDAV did not answer on $endpoint within 30s; log $data.log" >&2
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
    sleep 0.1
  done
  if [ -n "$watch" ]; then
    (
      while kill -0 "$watch" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      kill "$pid" 2>/dev/null || true
      sleep 1
      rm -rf "$data" "$data.log" "$data.json"
    ) >/dev/null 2>&1 </dev/null &
    disown || true
  fi
  echo "VOUCH_HTTP_ENDPOINT=$endpoint"
  echo "VOUCH_HTTP_PID=$pid"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "${1:-}" ;;
  *) echo "usage: scripts/http-server.sh install | start [WATCH_PID]" >&2; exit 2 ;;
esac
