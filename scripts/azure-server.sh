#!/usr/bin/env bash
# Azure Blob Storage for vouch's tests: Azurite, Microsoft's emulator (npm, pinned), installed
# into target/azurite. It checks every request's Shared Key signature against the accounts
# it is started with and implements `If-None-Match: *` on Put Blob (409 when the blob
# exists).
#
#   scripts/azure-server.sh install               install Azurite (idempotent; ~25 s)
#   scripts/azure-server.sh start [WATCH_PID]     start Azurite's blob service on a free
#                                                 loopback port (data in a new folder
#                                                 under target/azurite, removed when it
#                                                 stops), with the account
#                                                 VOUCH_AZURE_ACCOUNT / VOUCH_AZURE_KEY (the
#                                                 key base64, as Azure's are; default
#                                                 Azurite's own devstoreaccount1 and its
#                                                 published key), create the
#                                                 container `vouch-test` (and each name in
#                                                 VOUCH_BUCKETS, space-separated) and print
#                                                 `VOUCH_AZURE_ENDPOINT=http://…/<account>`
#                                                 and `VOUCH_AZURE_PID=<pid>` on stdout
# With WATCH_PID the server is stopped (by its pid) once that process has exited.
# Exits non-zero with the reason on stderr when the server cannot start; tests turn that
# into a failure, never a skip. Needs node and npm (registry access for the install).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/servers.sh

CONTAINER="vouch-test"
AZURITE_VERSION="3.35.0"
root="$PWD/target/azurite"
bin="$root/node_modules/.bin/azurite-blob"

install() {
  install_once "$bin" "$root/.azurite-$AZURITE_VERSION" npm_install
}

npm_install() {
  command -v npm >/dev/null 2>&1 || { echo "azure-server: npm is needed to install Azurite" >&2; exit 1; }
  echo "azure-server: installing azurite@$AZURITE_VERSION into $root" >&2
  npm install --prefix "$root" --no-audit --no-fund --no-save --silent \
    "azurite@$AZURITE_VERSION" >&2
}

# Creates the container (arguments: endpoint, container) with a Shared Key signed request;
# exits 1 while Azurite does not listen yet, 2 when it refuses.
CREATE_CONTAINER_PY='import base64, hashlib, hmac, os, sys, urllib.error, urllib.request
from email.utils import formatdate
endpoint, container = sys.argv[1], sys.argv[2]
account, key = os.environ["VOUCH_AZURE_ACCOUNT"], os.environ["VOUCH_AZURE_KEY"]
date, version = formatdate(usegmt=True), "2021-08-06"
to_sign = "\n".join(["PUT"] + [""] * 11 + [
    f"x-ms-date:{date}", f"x-ms-version:{version}",
    f"/{account}/{account}/{container}\nrestype:container"])
sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(f"{endpoint}/{container}?restype=container", method="PUT",
    headers={"Content-Length": "0", "x-ms-date": date, "x-ms-version": version,
             "Authorization": f"SharedKey {account}:{sig}"})
try:
    urllib.request.urlopen(req, timeout=2).read()
except urllib.error.HTTPError as e:
    if e.code != 409:  # 409: the container exists
        print(f"create container: {e.code} {e.read()!r}", file=sys.stderr)
        sys.exit(2)
except OSError:
    sys.exit(1)  # not listening yet
'

start() {
  local watch="${1:-}"
  install
  if [ -z "${VOUCH_AZURE_ACCOUNT:-}" ]; then
    # Azurite's default account and its published key (Microsoft's documentation).
    export VOUCH_AZURE_ACCOUNT="devstoreaccount1"
    export VOUCH_AZURE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UTGWqW/K1GqZg4hU9Lo8nH5l6dbGJ3aAk8A=="
  fi
  [ -n "${VOUCH_AZURE_KEY:-}" ] || { echo "azure-server: set VOUCH_AZURE_KEY with VOUCH_AZURE_ACCOUNT" >&2; exit 2; }
  local port work
  port="$(free_port)"
  work="$(mktemp -d "$root/run.XXXXXX")"
  AZURITE_ACCOUNTS="$VOUCH_AZURE_ACCOUNT:$VOUCH_AZURE_KEY" setsid node "$root/node_modules/azurite/dist/src/blob/main.js" \
    --blobHost 127.0.0.1 --blobPort "$port" --location "$work" \
    --disableTelemetry --skipApiVersionCheck --loose --silent \
    >"$work.log" 2>&1 </dev/null &
  local pid=$!
  local endpoint="http://127.0.0.1:$port/$VOUCH_AZURE_ACCOUNT"
  # Create Container (Shared Key signed, path-style URL: the account is the first segment).
  wait_for azure-server "$pid" "$work.log" python3 -c "$CREATE_CONTAINER_PY" "$endpoint" "$CONTAINER"
  # Each of VOUCH_BUCKETS (space-separated) too.
  local b
  for b in ${VOUCH_BUCKETS:-}; do
    python3 -c "$CREATE_CONTAINER_PY" "$endpoint" "$b" >&2 ||
      { echo "azure-server: creating container $b failed" >&2; kill "$pid" 2>/dev/null || true; exit 1; }
  done
  stop_when_gone "$watch" "$pid" "$work" "$work.log"
  echo "VOUCH_AZURE_ENDPOINT=$endpoint"
  echo "VOUCH_AZURE_PID=$pid"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "${1:-}" ;;
  *) echo "usage: scripts/azure-server.sh install | start [WATCH_PID]" >&2; exit 2 ;;
esac
