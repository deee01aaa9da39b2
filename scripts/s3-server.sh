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
# A third, for measuring read speeds only (scripts/measure-storage.sh; no test needs it, and
# building it took 8 minutes on 2 cores here, so CI does not):
# - Garage (Rust, a distributed object store with an S3 API; pinned, built from crates.io
#   into target/garage), run as one node with replication factor 1 and its SQLite
#   metadata engine, data blocks stored uncompressed. It checks SigV4 signatures against
#   the key pair imported at start (VOUCH_GARAGE_ACCESS_KEY, `GK` and 24 hex digits;
#   VOUCH_GARAGE_SECRET_KEY, 64 hex digits).
#
#   scripts/s3-server.sh install                   install moto (idempotent)
#   scripts/s3-server.sh install-s3s-fs            build s3s-fs (idempotent; a few minutes)
#   scripts/s3-server.sh start [WATCH_PID]         start moto on a free loopback port, create
#                                                  the bucket `vouch-test` (and each name in
#                                                  VOUCH_BUCKETS, space-separated), print
#                                                  `VOUCH_S3_ENDPOINT=http://…` and
#                                                  `VOUCH_S3_PID=<pid>` on stdout
#   scripts/s3-server.sh start-s3s-fs [WATCH_PID]  the same with s3s-fs (on a new folder
#                                                  under target/s3s-fs, removed when it stops)
#   scripts/s3-server.sh install-garage            build Garage (idempotent; ~8 minutes)
#   scripts/s3-server.sh start-garage [WATCH_PID]  the same with Garage (a new folder under
#                                                  target/garage, removed when it stops)
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
  install_once "$s3s_bin" "$s3s_root/.s3s-fs-$S3S_VERSION" \
    cargo_install s3s-fs "$S3S_VERSION" "$s3s_root" --features binary
}

# cargo_install CRATE VERSION ROOT [ARG...]: builds CRATE's binary from crates.io (locked)
# into ROOT/bin, its build folder removed afterwards.
cargo_install() {
  local crate="$1" version="$2" root="$3"
  shift 3
  echo "s3-server: building $crate $version into $root" >&2
  cargo install --quiet --locked "$crate@$version" "$@" --root "$root" \
    --target-dir "$root/build" >&2
  rm -rf "$root/build"
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

GARAGE_VERSION="2.5.0"
garage_root="$PWD/target/garage"
garage_bin="$garage_root/bin/garage"

install_garage() {
  install_once "$garage_bin" "$garage_root/.garage-$GARAGE_VERSION" \
    cargo_install garage "$GARAGE_VERSION" "$garage_root" --no-default-features \
    --features bundled-libs,sqlite
}

start_garage() {
  local watch="${1:-}"
  install_garage
  [[ "${VOUCH_GARAGE_ACCESS_KEY:-}" =~ ^GK[0-9a-f]{24}$ ]] &&
    [[ "${VOUCH_GARAGE_SECRET_KEY:-}" =~ ^[0-9a-f]{64}$ ]] ||
    { echo "s3-server: set VOUCH_GARAGE_ACCESS_KEY (GK + 24 hex) and VOUCH_GARAGE_SECRET_KEY (64 hex)" >&2; exit 2; }
  local port rpc_port admin_port data
  port="$(free_port)"
  rpc_port="$(free_port)"
  admin_port="$(free_port)"
  data="$(mktemp -d "$garage_root/data.XXXXXX")"
  cat >"$data/garage.toml" <<TOML
metadata_dir = "$data/meta"
data_dir = "$data/data"
db_engine = "sqlite"
replication_factor = 1
compression_level = "none"
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$port"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
admin_token = "$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
TOML
  chmod 600 "$data/garage.toml"
  local g=("$garage_bin" -c "$data/garage.toml")
  setsid "${g[@]}" server >"$data.log" 2>&1 </dev/null &
  local pid=$!
  wait_for s3-server "$pid" "$data.log" port_listens "$port"
  stop_when_gone "$watch" "$pid" "$data" "$data.log"
  # One node holding every partition, the test key, the bucket.
  local node
  node="$("${g[@]}" node id -q 2>>"$data.log" | cut -d@ -f1)"
  {
    "${g[@]}" layout assign -z dc1 -c 10G "$node" &&
      "${g[@]}" layout apply --version 1 &&
      "${g[@]}" key import --yes -n vouch "$VOUCH_GARAGE_ACCESS_KEY" "$VOUCH_GARAGE_SECRET_KEY" &&
      "${g[@]}" bucket create "$BUCKET" &&
      "${g[@]}" bucket allow --read --write --owner "$BUCKET" --key vouch
  } >>"$data.log" 2>&1 || {
    echo "s3-server: setting up Garage failed; log $data.log:" >&2
    tail -n 20 "$data.log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
  }
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
  # CreateBucket (path-style PUT /<bucket>) for `vouch-test` and each of VOUCH_BUCKETS
  # (space-separated); moto accepts unsigned requests.
  local b
  for b in "$BUCKET" ${VOUCH_BUCKETS:-}; do
    if ! "$py" - "$endpoint/$b" <<'PY' >&2
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="PUT"), timeout=10).read()
PY
    then
      echo "s3-server: creating bucket $b on $endpoint failed" >&2
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
  done
  stop_when_gone "$watch" "$pid"
  echo "VOUCH_S3_ENDPOINT=$endpoint"
  echo "VOUCH_S3_PID=$pid"
}

case "${1:-}" in
  install) exec scripts/kms-server.sh install ;;
  install-s3s-fs) install_s3s ;;
  start) shift; start "${1:-}" ;;
  start-s3s-fs) shift; start_s3s "${1:-}" ;;
  install-garage) install_garage ;;
  start-garage) shift; start_garage "${1:-}" ;;
  *) echo "usage: scripts/s3-server.sh install | install-s3s-fs | install-garage | start [WATCH_PID] | start-s3s-fs [WATCH_PID] | start-garage [WATCH_PID]" >&2; exit 2 ;;
esac
