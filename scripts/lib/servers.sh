# shellcheck shell=bash
# Sourced by the scripts that start the test servers (s3-server.sh, azure-server.sh,
# http-server.sh, kms-server.sh, fault-proxy.sh): the one copy of finding a free port,
# waiting for a server to answer, and stopping it by its pid once the process it serves
# has exited. Needs python3 (every server script does).

# install_once BIN STAMP COMMAND...: runs COMMAND (an install into BIN's folder) unless
# the executable BIN and the file STAMP (naming the pinned version) are both there; under a
# lock (STAMP.lock, flock when there is one), so concurrent callers install once. Touches
# STAMP after COMMAND succeeded; a failed COMMAND fails the caller (set -e).
install_once() {
  local bin="$1" stamp="$2"
  shift 2
  if [ -x "$bin" ] && [ -f "$stamp" ]; then return 0; fi
  mkdir -p "$(dirname "$stamp")"
  exec 8>"$stamp.lock"
  if command -v flock >/dev/null 2>&1; then flock 8; fi
  if [ -x "$bin" ] && [ -f "$stamp" ]; then return 0; fi
  "$@"
  touch "$stamp"
}

# Prints a free loopback TCP port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# http_answers URL [METHOD]: succeeds when URL answers METHOD (default GET) with a 2xx
# status within a second.
http_answers() {
  python3 -c 'import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], method=sys.argv[2]), timeout=1).read()' \
    "$1" "${2:-GET}"
}

# port_listens PORT: succeeds when something accepts connections on the loopback PORT.
port_listens() {
  python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1"
}

# wait_for NAME PID LOG PROBE [ARG...]: runs PROBE ARG... every 0.1 s until it succeeds.
# Gives up (the reason and the end of LOG on stderr, the server stopped, exit 1) when the
# server PID has exited, when PROBE exits with 2 (the server refused a setup request:
# waiting cannot help; PROBE's own output is shown), or after 30 s. NAME starts messages.
wait_for() {
  local name="$1" pid="$2" log="$3"
  shift 3
  local i=0 rc
  while true; do
    rc=0
    "$@" >"$log.probe" 2>&1 </dev/null || rc=$?
    if [ "$rc" -eq 0 ]; then
      rm -f "$log.probe"
      return 0
    fi
    if [ "$rc" -eq 2 ]; then
      echo "$name: the server refused the setup request:" >&2
      tail -n 20 "$log.probe" >&2
      echo "$name: server log $log:" >&2
      tail -n 20 "$log" >&2
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name: the server exited at startup; log $log:" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
    i=$((i + 1))
    if [ "$i" -ge 300 ]; then
      echo "$name: the server did not answer within 30s; log $log" >&2
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
    sleep 0.1
  done
}

# stop_when_gone WATCH PID [PATH...]: once the process WATCH has exited (or the server
# has), stops the server PID by its pid and then removes PATH...; does nothing without
# WATCH. Returns at once (a detached watcher does the waiting).
stop_when_gone() {
  local watch="$1" pid="$2"
  shift 2
  [ -n "$watch" ] || return 0
  (
    while kill -0 "$watch" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
    kill "$pid" 2>/dev/null || true
    if [ "$#" -gt 0 ]; then
      sleep 1
      rm -rf "$@"
    fi
  ) >/dev/null 2>&1 </dev/null &
  disown || true
}
