#!/usr/bin/env bash
# An HTTP storage server for vouch's tests: WsgiDAV (PyPI, pinned, on the cheroot server),
# a WebDAV server on a folder, installed into a venv under target/. It serves GET, HEAD and
# ranged GETs, takes PUT (and MKCOL for folders), lists with PROPFIND, and evaluates
# `If-None-Match: *` on PUT (412 when the name is taken).
#
# WsgiDAV checks `If-None-Match` and then writes, in two steps, on one thread per request:
# two racing conditional PUTs can both pass the check. The server started here therefore
# runs the requests that write (PUT, MKCOL, DELETE, MOVE, COPY, PROPPATCH) one at a time,
# under one lock, so a conditional create is atomic, as on a server that locks the name;
# reads run on 16 worker threads. (It used to run one worker thread for everything, and
# cheroot's one worker then sat on an idle keep-alive connection until its 10 s socket
# timeout while the other connections of a `--jobs` reader waited: `vouch verify` took
# 10.4 s instead of 0.4 s.)
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
. scripts/lib/servers.sh

WSGIDAV_VERSION="4.4.0"
CHEROOT_VERSION="11.1.2"
venv="$PWD/target/http-venv"
root="$PWD/target/http-server"
stamp="$venv/.wsgidav-$WSGIDAV_VERSION-cheroot-$CHEROOT_VERSION"

# The server: WsgiDAV's app on a folder (anonymous read-write) behind a lock for the
# requests that write, on cheroot. Arguments: port, folder.
SERVE_PY='
import sys, threading
from cheroot import wsgi
from wsgidav.wsgidav_app import WsgiDAVApp

port, folder = int(sys.argv[1]), sys.argv[2]
dav = WsgiDAVApp({
    "host": "127.0.0.1", "port": port, "provider_mapping": {"/": folder},
    "simple_dc": {"user_mapping": {"*": True}}, "verbose": 1, "logging": {"enable": False},
})
writes = {"PUT", "MKCOL", "DELETE", "MOVE", "COPY", "PROPPATCH"}
lock = threading.Lock()

def app(environ, start_response):
    if environ["REQUEST_METHOD"] in writes:
        with lock:
            return list(dav(environ, start_response))
    return dav(environ, start_response)

wsgi.Server(("127.0.0.1", port), app, numthreads=16).safe_start()
'

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
  port="$(free_port)"
  data="$(mktemp -d "$root/data.XXXXXX")"
  setsid "$venv/bin/python" -c "$SERVE_PY" "$port" "$data" >"$data.log" 2>&1 </dev/null &
  local pid=$!
  local endpoint="http://127.0.0.1:$port"
  wait_for http-server "$pid" "$data.log" http_answers "$endpoint/" HEAD
  stop_when_gone "$watch" "$pid" "$data" "$data.log"
  echo "VOUCH_HTTP_ENDPOINT=$endpoint"
  echo "VOUCH_HTTP_PID=$pid"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "${1:-}" ;;
  *) echo "usage: scripts/http-server.sh install | start [WATCH_PID]" >&2; exit 2 ;;
esac
