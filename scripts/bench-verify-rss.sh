#!/usr/bin/env bash
# Peak memory of `vouch verify` on a large collection (issue 12 goal: peak RSS at most
# 256 MiB for `--level full` on a 10 GiB collection): memory must be bounded by a few
# blocks per worker and the merge's accumulators, not by the data.
#
# The collection is a bank cluster's, shaped like scripts/bench-verify-peers.sh's (a full
# backup with revision history and two revision-history incrementals, zstd) with larger
# payloads: ROWS rows of PAYLOAD bytes (defaults 1,200,000 x 8,000: about 10 GiB stored).
# The cluster is removed once the backups are written (it takes about twice the disk of the
# collection); the collection is kept in WORK and reused (delete WORK/.built to rebuild).
# Prints the size, then for each level the wall time and peak RSS (/usr/bin/time -v's
# "Maximum resident set size") of one run after a warm-up, and exits 1 when the full
# level's peak RSS is above LIMIT_MIB (default 256).
#
# Usage: scripts/bench-verify-rss.sh [WORK]   (default target/bench-rss)
# Environment: ROWS, PAYLOAD, OPS (workload ops between backups, default 200000), JOBS
#   (verify --jobs, default the CPUs), LIMIT_MIB, VOUCH (a built vouch binary to use instead
#   of building target/release/vouch).
set -euo pipefail
cd "$(dirname "$0")/.."

work="${1:-target/bench-rss}"
rows="${ROWS:-1200000}"
payload="${PAYLOAD:-8000}"
ops="${OPS:-200000}"
jobs="${JOBS:-$(nproc)}"
limit="${LIMIT_MIB:-256}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian package time)" >&2; exit 2; }

# shellcheck source=lib/bench.sh
. scripts/lib/bench.sh
bench_vouch

coll="$work/collection"
cluster="$work/cluster"
if [ ! -f "$work/.built" ]; then
  rm -rf "$coll" "$cluster"
  bench_bank_chain "$cluster" "$coll" "$rows" "$payload" "$ops"
  rm -rf "$cluster"
  touch "$work/.built"
fi
bytes="$(find "$coll" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')"
files="$(find "$coll" -type f -name '*.sst' | wc -l)"
echo "collection: $files data files, $bytes bytes ($((bytes >> 20)) MiB) in $coll"

peak_full=0
for level in metadata schema full; do
  "$vouch" verify --level "$level" --jobs "$jobs" IN "file://$coll" >/dev/null # warm-up; not clean: stops (set -e)
  log="$(mktemp)"
  /usr/bin/time -v "$vouch" verify --level "$level" --jobs "$jobs" IN "file://$coll" >/dev/null 2>"$log"
  secs="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")"
  kib="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")"
  rm -f "$log"
  printf 'vouch verify --level %-8s  %8s wall  %6d MiB peak RSS\n' "$level" "$secs" "$((kib / 1024))"
  [ "$level" = full ] && peak_full=$((kib / 1024))
done
if [ "$peak_full" -gt "$limit" ]; then
  echo "full level peak RSS $peak_full MiB is above $limit MiB" >&2
  exit 1
fi
echo "full level peak RSS $peak_full MiB <= $limit MiB"
