#!/usr/bin/env bash
# An S3-compatible server for vouch's tests: moto's server (the same pinned moto[server] as
# scripts/kms-server.sh, in the same venv), which speaks the real S3 REST API, including
# conditional writes (`If-None-Match: *` on PutObject and CompleteMultipartUpload, refused
# with 412 when the key exists).
#
#   scripts/s3-server.sh install            install moto into target/kms-venv (idempotent)
#   scripts/s3-server.sh start [WATCH_PID]  start the server on a free loopback port, create
#                                           the bucket `vouch-test` in it, print
#                                           `VOUCH_S3_ENDPOINT=http://…` and
#                                           `VOUCH_S3_PID=<pid>` on stdout. With WATCH_PID the
#                                           server is stopped once that process has exited.
#
# Credentials are not checked by the server: tests pass any key pair (and so prove that
# vouch never shows the secret, whatever it is). Exits non-zero with the reason on stderr
# when the server cannot start; tests turn that into a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

BUCKET="vouch-test"
venv="${KMS_VENV:-$PWD/target/kms-venv}"

case "${1:-}" in
  install) exec scripts/kms-server.sh install ;;
  start)
    out="$(scripts/kms-server.sh start "${2:-}")"
    endpoint="$(sed -n 's/^VOUCH_KMS_ENDPOINT=//p' <<<"$out")"
    pid="$(sed -n 's/^VOUCH_KMS_PID=//p' <<<"$out")"
    [ -n "$endpoint" ] && [ -n "$pid" ] || { echo "s3-server: no endpoint from kms-server.sh: $out" >&2; exit 1; }
    # CreateBucket (path-style PUT /<bucket>); moto accepts unsigned requests.
    if ! "$venv/bin/python" - "$endpoint/$BUCKET" <<'PY' >&2
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="PUT"), timeout=10).read()
PY
    then
      echo "s3-server: creating bucket $BUCKET on $endpoint failed" >&2
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
    echo "VOUCH_S3_ENDPOINT=$endpoint"
    echo "VOUCH_S3_PID=$pid"
    ;;
  *) echo "usage: scripts/s3-server.sh install | start [WATCH_PID]" >&2; exit 2 ;;
esac
