#!/usr/bin/env bash
# `vouch verify --level metadata` over a collection of many data files (issue 12 goal:
# 100,000 data files under 2 s on local disk), and its peak RSS.
#
# The collection is built cheaply: a bank cluster of FILES / FULLS rows with small payloads
# backed up FULLS times (full backups, one chain each; default one backup of FILES files)
# with a 1-byte target file size, so each row gets its own data file and the collection
# holds FILES data files (and the backups' checkpoints, written at a bounded rate: O(n)
# bytes for n files, spec/backup.md 7.3). Built once into WORK and reused (delete
# WORK/.built to rebuild); each
# run prints the wall time and peak RSS (/usr/bin/time) of RUNS runs after a warm-up, and
# the load average before and after (other work on the machine slows it).
#
# Usage: scripts/bench-verify-metadata.sh [WORK]   (default target/bench-metadata)
# Environment: FILES (default 100000), FULLS (default 1), RUNS (default 3), VOUCH (a built vouch binary to
# use instead of building target/release/vouch).
set -euo pipefail
cd "$(dirname "$0")/.."

work="${1:-target/bench-metadata}"
files="${FILES:-100000}"
fulls="${FULLS:-1}"
runs="${RUNS:-3}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
command -v /usr/bin/time >/dev/null 2>&1 || { echo "needs /usr/bin/time" >&2; exit 2; }

# shellcheck source=lib/bench.sh
. scripts/lib/bench.sh
bench_vouch

coll="$work/collection"
cluster="$work/cluster"
if [ ! -f "$work/.built" ]; then
  rm -rf "$coll" "$cluster"
  echo "building the collection: $fulls full backups of a bank cluster of $((files / fulls)) rows, one data file each" >&2
  "$vouch" cluster init "$cluster" --workload bank --rows "$((files / fulls))" --payload-bytes 16 >&2
  for i in $(seq "$fulls"); do
    "$vouch" backup --cluster "$cluster" INTO "file://$coll" --target-file-size 1 >/dev/null
  done
  touch "$work/.built"
fi
n="$(find "$coll" -type f -name '*.sst' | wc -l)"
echo "collection: $n data files in $coll" >&2

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$vouch" verify --level metadata IN "file://$coll" >/dev/null # warm-up (page cache); not clean: the script stops (set -e)
for i in $(seq "$runs"); do
  out="$( { /usr/bin/time -f '%e %M' "$vouch" verify --level metadata IN "file://$coll" 2>&1 >/dev/null; } | tail -1)"
  printf 'run %d: vouch verify --level metadata  %6ss  %5s MiB peak RSS  (%d data files)\n' \
    "$i" "${out% *}" "$(( ${out#* } / 1024 ))" "$n"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
