#!/usr/bin/env bash
# A fault-injecting HTTP proxy for vouch's retry tests: it forwards every request to one
# upstream server (an S3, Azure or WebDAV test server) unchanged (Host header included, so
# signatures still verify; with FAULT_PROXY_UPSTREAM_HOST=1 in the environment the Host
# header is the upstream's instead, for servers that answer only their own host, as
# fake-gcs-server's XML API does, whose requests are unsigned) and answers a number of them itself with an error instead,
# as a throttling or failing service would, without forwarding them.
# It also holds SigV4-signed requests (an `Authorization: AWS4-HMAC-SHA256 …` header) to
# the rule of Amazon S3 that S3-compatible test servers do not all enforce: every
# `x-amz-*` header a request carries must be one of its SignedHeaders (S3 answers others
# with 403 AccessDenied, "There were headers present in the request which were not
# signed"). Such a request is answered so, not forwarded, and counted (`unsigned`).
#
#   scripts/fault-proxy.sh start UPSTREAM [WATCH_PID]   proxy http://127.0.0.1:<port> to
#                                                       UPSTREAM (http://host:port), print
#                                                       `VOUCH_FAULT_PROXY=http://127.0.0.1:<port>`
#                                                       and `VOUCH_FAULT_PROXY_PID=<pid>`
#
# Control (requests to the proxy itself, never forwarded):
#   POST /__faults?count=N&status=S&methods=GET,HEAD   the next N requests with one of the
#                                                      methods (default: any) are answered
#                                                      with status S (default 503) and a
#                                                      `Retry-After: 0` header
#   GET  /__faults                                     JSON {"armed": n, "served": n,
#                                                      "forwarded": n, "max_inflight": n,
#                                                      "heads": n, "signed": n,
#                                                      "unsigned": n} (faults left, faults
#                                                      answered, requests forwarded, most
#                                                      forwarded requests in flight at once,
#                                                      HEAD requests forwarded, SigV4
#                                                      requests seen, those refused for an
#                                                      unsigned x-amz-* header)
# With WATCH_PID the proxy is stopped (by its pid) once that process has exited.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/servers.sh

PROXY_PY='
import http.client, json, sys, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, upstream = int(sys.argv[1]), urllib.parse.urlsplit(sys.argv[2])
upstream_host = sys.argv[3] == "1"
state = {"armed": 0, "served": 0, "forwarded": 0, "status": 503, "methods": None,
         "inflight": 0, "max_inflight": 0, "heads": 0, "signed": 0, "unsigned": 0}
COUNTS = ("armed", "served", "forwarded", "max_inflight", "heads", "signed", "unsigned")

def unsigned_amz_headers(headers):
    """The x-amz-* headers of a SigV4-signed request missing from its SignedHeaders;
    None for a request that is not SigV4-signed."""
    auth = headers.get("Authorization") or ""
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return None
    signed = set()
    for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        if k == "SignedHeaders":
            signed = set(v.lower().split(";"))
    return sorted({k.lower() for k in headers.keys()
                   if k.lower().startswith("x-amz-") and k.lower() not in signed})
lock = threading.Lock()
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate", "content-length"}

class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        """The request body, sent with a Content-Length or chunked (the GCS client
        streams uploads chunked); forwarded with a Content-Length."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        body = self.read_body()
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/__faults":
            with lock:
                if self.command == "POST":
                    q = urllib.parse.parse_qs(url.query)
                    state["armed"] = int(q.get("count", ["1"])[0])
                    state["status"] = int(q.get("status", ["503"])[0])
                    m = q.get("methods", [""])[0]
                    state["methods"] = set(m.split(",")) if m else None
                    state["served"] = 0
                    state["forwarded"] = 0
                    state["max_inflight"] = 0
                    state["heads"] = 0
                    state["signed"] = 0
                    state["unsigned"] = 0
                out = {k: state[k] for k in COUNTS}
            return self.reply(200, json.dumps(out).encode(), [("Content-Type", "application/json")])
        unsigned = unsigned_amz_headers(self.headers)
        if unsigned is not None:
            with lock:
                state["signed"] += 1
                state["unsigned"] += bool(unsigned)
            if unsigned:
                return self.reply(403, ("<Error><Code>AccessDenied</Code><Message>There were headers present "
                                        "in the request which were not signed</Message><HeadersNotSigned>"
                                        + ", ".join(unsigned) + "</HeadersNotSigned></Error>").encode(),
                                  [("Content-Type", "application/xml")])
        with lock:
            fault = state["armed"] > 0 and (state["methods"] is None or self.command in state["methods"])
            if fault:
                state["armed"] -= 1
                state["served"] += 1
            else:
                state["forwarded"] += 1
                state["heads"] += self.command == "HEAD"
                state["inflight"] += 1
                state["max_inflight"] = max(state["max_inflight"], state["inflight"])
            status = state["status"]
        if fault:
            return self.reply(status, b"<Error><Code>SlowDown</Code><Message>injected fault</Message></Error>",
                              [("Retry-After", "0"), ("Content-Type", "application/xml")])
        try:
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            if upstream_host:
                conn.putheader("Host", upstream.netloc)
            for k, v in self.headers.items():
                if k.lower() not in HOP and not (upstream_host and k.lower() == "host"):
                    conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            data = r.read()
            conn.close()
        finally:
            with lock:
                state["inflight"] -= 1
        self.send_response(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", r.getheader("Content-Length") if self.command == "HEAD" and r.getheader("Content-Length") else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PROPFIND = do_MKCOL = do_OPTIONS = handle_any

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Proxy).serve_forever()
'

start() {
  local upstream="$1" watch="${2:-}"
  local port log
  port="$(free_port)"
  log="$(mktemp "${TMPDIR:-/tmp}/vouch-fault-proxy.XXXXXX")"
  setsid python3 -c "$PROXY_PY" "$port" "$upstream" "${FAULT_PROXY_UPSTREAM_HOST:-0}" >"$log" 2>&1 </dev/null &
  local pid=$!
  local endpoint="http://127.0.0.1:$port"
  wait_for fault-proxy "$pid" "$log" http_answers "$endpoint/__faults"
  stop_when_gone "$watch" "$pid" "$log"
  echo "VOUCH_FAULT_PROXY=$endpoint"
  echo "VOUCH_FAULT_PROXY_PID=$pid"
}

case "${1:-}" in
  start)
    [ -n "${2:-}" ] || { echo "usage: scripts/fault-proxy.sh start UPSTREAM [WATCH_PID]" >&2; exit 2; }
    start "$2" "${3:-}"
    ;;
  *) echo "usage: scripts/fault-proxy.sh start UPSTREAM [WATCH_PID]" >&2; exit 2 ;;
esac
