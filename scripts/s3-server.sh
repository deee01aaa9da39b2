#!/usr/bin/env bash
# S3-compatible servers for vouch's tests, two independent implementations:
# - moto's server (the same pinned moto[server] as scripts/kms-server.sh, in the same venv),
#   which speaks the S3 REST API, including conditional writes (`If-None-Match: *` on
#   PutObject and CompleteMultipartUpload, refused with 412 when the key exists). It serves
#   the KMS API too. Credentials are not checked.
# - s3s-fs (Rust, objects as files in a folder; pinned, built from crates.io into
#   target/s3s-fs), which checks every request's SigV4 signature against the key pair it
#   is started with (VOUCH_S3S_ACCESS_KEY / VOUCH_S3S_SECRET_KEY) and implements
#   `If-None-Match: *` on PutObject.
#
#   scripts/s3-server.sh install                   install moto (idempotent)
#   scripts/s3-server.sh install-s3s-fs            build s3s-fs (idempotent; a few minutes)
#   scripts/s3-server.sh start [WATCH_PID]         start moto on a free loopback port, create
#                                                  the bucket `vouch-test`, print
#                                                  `VOUCH_S3_ENDPOINT=http://…` and
#                                                  `VOUCH_S3_PID=<pid>` on stdout
#   scripts/s3-server.sh start-s3s-fs [WATCH_PID]  the same with s3s-fs (on a new folder
#                                                  under target/s3s-fs, removed when it stops)
# With WATCH_PID the server is stopped once that process has exited.
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
. scripts/lib/servers.sh

BUCKET="vouch-test"
venv="${KMS_VENV:-$PWD/target/kms-venv}"
S3S_VERSION="0.14.1"   # the newest whose rust-version (1.92) the pinned toolchain builds
s3s_root="$PWD/target/s3s-fs"
s3s_bin="$s3s_root/bin/s3s-fs"

install_s3s() {
  local stamp="$s3s_root/.s3s-fs-$S3S_VERSION"
  if [ -x "$s3s_bin" ] && [ -f "$stamp" ]; then return 0; fi
  mkdir -p "$s3s_root"
  exec 8>"$s3s_root.lock"
  if command -v flock >/dev/null 2>&1; then flock 8; fi
  if [ -x "$s3s_bin" ] && [ -f "$stamp" ]; then return 0; fi
  echo "s3-server: building s3s-fs $S3S_VERSION into $s3s_root" >&2
  cargo install --quiet --locked "s3s-fs@$S3S_VERSION" --features binary \
    --root "$s3s_root" --target-dir "$s3s_root/build" >&2
  rm -rf "$s3s_root/build"
  touch "$stamp"
}

start_s3s() {
  local watch="${1:-}"
  install_s3s
  [ -n "${VOUCH_S3S_ACCESS_KEY:-}" ] && [ -n "${VOUCH_S3S_SECRET_KEY:-}" ] ||
    { echo "s3-server: set VOUCH_S3S_ACCESS_KEY and VOUCH_S3S_SECRET_KEY" >&2; exit 2; }
  local port data
  port="$(free_port)"
  data="$(mktemp -d "$s3s_root/data.XXXXXX")"
  mkdir "$data/$BUCKET"
  setsid "$s3s_bin" --host 127.0.0.1 --port "$port" --access-key "$VOUCH_S3S_ACCESS_KEY" \
    --secret-key "$VOUCH_S3S_SECRET_KEY" "$data" >"$data.log" 2>&1 </dev/null &
  local pid=$!
  wait_for s3-server "$pid" "$data.log" port_listens "$port"
  stop_when_gone "$watch" "$pid" "$data" "$data.log"
  echo "VOUCH_S3_ENDPOINT=http://127.0.0.1:$port"
  echo "VOUCH_S3_PID=$pid"
}

start() {
  local watch="${1:-}"
  scripts/kms-server.sh install
  local py="$venv/bin/python"
  local port
  port="$(free_port)"
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
  wait_for s3-server "$pid" "$log" http_answers "$endpoint/moto-api/"
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
  stop_when_gone "$watch" "$pid"
  echo "VOUCH_S3_ENDPOINT=$endpoint"
  echo "VOUCH_S3_PID=$pid"
}

case "${1:-}" in
  install) exec scripts/kms-server.sh install ;;
  install-s3s-fs) install_s3s ;;
  start) shift; start "${1:-}" ;;
  start-s3s-fs) shift; start_s3s "${1:-}" ;;
  *) echo "usage: scripts/s3-server.sh install | install-s3s-fs | start [WATCH_PID] | start-s3s-fs [WATCH_PID]" >&2; exit 2 ;;
esac
