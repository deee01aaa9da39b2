#!/usr/bin/env bash
# An S3-compatible server for vouch's tests: moto's server (the same pinned moto[server] as
# scripts/kms-server.sh, in the same venv), which speaks the real S3 REST API, including
# conditional writes (`If-None-Match: *` on PutObject and CompleteMultipartUpload, refused
# with 412 when the key exists). It serves the KMS API too.
#
#   scripts/s3-server.sh install            install moto into target/kms-venv (idempotent)
#   scripts/s3-server.sh start [WATCH_PID]  start the server on a free loopback port, create
#                                           the bucket `vouch-test` in it, print
#                                           `VOUCH_S3_ENDPOINT=http://…` and
#                                           `VOUCH_S3_PID=<pid>` on stdout. With WATCH_PID the
#                                           server is stopped once that process has exited.
#
# moto checks `If-None-Match` and then writes, in two steps, on one thread per request:
# two racing conditional PUTs can both pass the check, and the second replaces the first
# (real S3 refuses it). The server started here therefore handles one request at a time
# (a lock around moto's WSGI app), so a conditional create is atomic as on S3.
#
# Credentials are not checked by the server: tests pass any key pair (and so prove that
# vouch never shows the secret, whatever it is). Exits non-zero with the reason on stderr
# when the server cannot start; tests turn that into a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

BUCKET="vouch-test"
venv="${KMS_VENV:-$PWD/target/kms-venv}"

start() {
  local watch="${1:-}"
  scripts/kms-server.sh install
  local py="$venv/bin/python"
  local port
  port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  local log="$venv/s3-server-$port.log"
  setsid "$py" - "$port" >"$log" 2>&1 </dev/null <<'PY' &
import sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication, MotoRequestHandler, create_backend_app)

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()

def one_at_a_time(environ, start_response):
    with lock:
        return list(app(environ, start_response))

run_simple("127.0.0.1", int(sys.argv[1]), one_at_a_time, threaded=True,
           request_handler=MotoRequestHandler)
PY
  local pid=$!
  local endpoint="http://127.0.0.1:$port"
  local i=0
  until "$py" - "$endpoint" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1).read()
PY
  do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "s3-server: the server exited at startup; log $log:" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
    i=$((i + 1))
    if [ "$i" -ge 300 ]; then
      echo "s3-server: the server did not answer on $endpoint within 30s; log $log" >&2
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
    sleep 0.1
  done
  # CreateBucket (path-style PUT /<bucket>); moto accepts unsigned requests.
  if ! "$py" - "$endpoint/$BUCKET" <<'PY' >&2
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="PUT"), timeout=10).read()
PY
  then
    echo "s3-server: creating bucket $BUCKET on $endpoint failed" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
  fi
  if [ -n "$watch" ]; then
    (
      while kill -0 "$watch" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      kill "$pid" 2>/dev/null || true
    ) >/dev/null 2>&1 </dev/null &
    disown || true
  fi
  echo "VOUCH_S3_ENDPOINT=$endpoint"
  echo "VOUCH_S3_PID=$pid"
}

case "${1:-}" in
  install) exec scripts/kms-server.sh install ;;
  start) shift; start "${1:-}" ;;
  *) echo "usage: scripts/s3-server.sh install | start [WATCH_PID]" >&2; exit 2 ;;
esac
