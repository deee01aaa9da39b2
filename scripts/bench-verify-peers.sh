#!/usr/bin/env bash
# `vouch verify --level full` side by side with its peers, on the same bytes, in one session:
#   vouch   vouch verify --level full --jobs $(nproc) FROM LATEST IN file://COLLECTION
#   restic  restic check --read-data, on a restic repository holding the same collection
#   openssl openssl dgst -sha256 over the same files, in as many processes as cores
#           (the hashing floor: every byte read and hashed once, with the CPU's SHA
#           instructions)
# Each runs RUNS times (default 3) after one warm-up run (page cache warm), alternating
# (vouch, restic, openssl, vouch, …); the script prints every run's wall time and peak RSS
# (/usr/bin/time), the medians, and the ratios the goals are stated in: restic / vouch
# (goal >= 2.5) and vouch / openssl (goal <= 2).
#
# The collection is a bank cluster's: a full backup with revision history and two
# revision-history incrementals, zstd, built once into WORK (reused when present).
#
# Usage: scripts/bench-verify-peers.sh [WORK]   (default target/bench-peers)
# Environment: ROWS (default 1200000), PAYLOAD (bank payload bytes, default 1000),
#   OPS (workload ops between backups, default 200000), RUNS (default 3), VOUCH (a built
#   vouch binary to use instead of building target/release/vouch). The collection and the
#   restic repository are kept in WORK: a rerun only measures (delete WORK/.built to build
#   them again). The load average is printed before and after: other work on the machine
#   slows every tool, not equally.
# Installs restic from Debian when it is missing (apt-get; run as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

work="${1:-target/bench-peers}"
rows="${ROWS:-1200000}"
payload="${PAYLOAD:-1000}"
ops="${OPS:-200000}"
runs="${RUNS:-3}"
cores="$(nproc)"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

if ! command -v restic >/dev/null 2>&1; then
  echo "installing restic (Debian package)" >&2
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get install -y -q restic >&2
fi
for tool in openssl /usr/bin/time; do
  command -v "$tool" >/dev/null 2>&1 || { echo "needs $tool" >&2; exit 2; }
done

# shellcheck source=lib/bench.sh
. scripts/lib/bench.sh
bench_vouch

coll="$work/collection"
cluster="$work/cluster"
if [ ! -f "$work/.built" ]; then
  rm -rf "$coll" "$cluster" "$work/restic"
  bench_bank_chain "$cluster" "$coll" "$rows" "$payload" "$ops"
  echo "putting the same files into a restic repository" >&2
  RESTIC_PASSWORD=bench restic init --repo "$work/restic" -q >&2
  RESTIC_PASSWORD=bench restic backup --repo "$work/restic" -q "$coll" >&2
  touch "$work/.built"
fi
bytes="$(find "$coll" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')"
files="$(find "$coll" -type f | wc -l)"
echo "collection: $files files, $bytes bytes ($((bytes >> 20)) MiB) in $coll" >&2

run_vouch() {
  "$vouch" verify --level full --jobs "$cores" IN "file://$coll" >/dev/null
}
run_restic() {
  RESTIC_PASSWORD=bench restic check --repo "$work/restic" --read-data -q >/dev/null
}
run_openssl() {
  # Split the files into one list per core, largest first, round-robin.
  find "$coll" -type f -printf '%s %p\n' | sort -rn | cut -d' ' -f2- \
    | awk -v n="$cores" '{ print > ("'"$work"'/list." (NR % n)) }'
  for l in "$work"/list.*; do
    xargs -a "$l" -d '\n' openssl dgst -sha256 >/dev/null &
  done
  wait
  rm -f "$work"/list.*
}
export -f run_vouch run_restic run_openssl
export vouch coll cores work

timed() { # name -> appends "name seconds maxrss_kib" to $results
  local out
  out="$( { /usr/bin/time -f '%e %M' bash -c "run_$1" 2>&1 >/dev/null; } | tail -1)"
  echo "$1 $out" >>"$results"
  printf '%-8s %8ss %8s MiB peak RSS\n' "$1" "${out% *}" "$(( ${out#* } / 1024 ))"
}

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "warm-up (not counted)" >&2
run_vouch
run_restic
run_openssl
for i in $(seq "$runs"); do
  echo "run $i" >&2
  timed vouch
  timed restic
  timed openssl
done

median() { grep "^$1 " "$results" | awk -v c="${2:-2}" '{ print $c }' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
v="$(median vouch)"
r="$(median restic)"
o="$(median openssl)"
mib=$((bytes >> 20))
echo
echo "medians over $runs runs ($mib MiB, $files files, $cores cores):"
awk -v v="$v" -v r="$r" -v o="$o" -v m="$mib" 'BEGIN {
  printf "  vouch verify --level full  %6.2f s  %7.0f MiB/s\n", v, m / v
  printf "  restic check --read-data   %6.2f s  %7.0f MiB/s\n", r, m / r
  printf "  openssl dgst -sha256 x%d    %6.2f s  %7.0f MiB/s\n", '"$cores"', o, m / o
  printf "ratios: restic/vouch = %.2f (goal >= 2.5), vouch/openssl = %.2f (goal <= 2.0)\n", r / v, v / o
}'
echo "vouch peak RSS (median): $(( $(median vouch 3) / 1024 )) MiB"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
