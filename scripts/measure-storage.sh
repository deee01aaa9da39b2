#!/usr/bin/env bash
# Read speeds of collections on object stores against the same collection on local disk
# (issue 13's goals), with the release build, on local test servers started by the
# project's scripts (stopped when this script exits):
#   full      vouch verify --level full IN <collection> on local disk, on moto's S3 server,
#             on s3s-fs and on Garage (goal: each S3 run within 1.5x of local disk)
#   metadata  vouch verify --level metadata over a collection of about OBJECTS objects
#             (full backups cut into small data files), on the same four (goal: < 3 s)
# and both from fake-gcs-server (gs://), with the same goals.
# The full-level collections are written by `vouch backup` at the same AS OF times into
# each store, so they hold the same data files; the metadata-level ones by the same
# backups of an unchanging cluster. The work folder is removed at the end. Each verify runs RUNS times after a warm-up run; the
# script prints every run's wall time and the medians.
#
# Usage: scripts/measure-storage.sh [WORK]   (default target/measure-storage)
# Environment: ROWS (bank rows of the full-level collection, default 100000), PAYLOAD
#   (bank payload bytes, default 500), OBJECTS (default 10000), FULLS (full backups the
#   OBJECTS are spread over, default 20), SMALL_ROWS (rows of their cluster, default
#   20000), RUNS (default 3), JOBS (verify --jobs, default the CPUs), STORES (which of
#   local moto s3s-fs garage gcs to time, default all; the collections are written to all),
#   PIN (1: every server runs on the machine's last core and vouch on the others, local
#   disk included, as when the server is another machine; JOBS then defaults to the other
#   cores; needs 2 cores or more).
set -euo pipefail
cd "$(dirname "$0")/.."

work="${1:-target/measure-storage}"
rows="${ROWS:-100000}"
payload="${PAYLOAD:-500}"
objects="${OBJECTS:-10000}"
fulls="${FULLS:-20}"
small_rows="${SMALL_ROWS:-20000}"
runs="${RUNS:-3}"
cores="$(nproc)"
pin="${PIN:-0}"
vouch_cores="$cores"
if [ "$pin" = 1 ]; then
  [ "$cores" -ge 2 ] || { echo "measure-storage: PIN=1 needs 2 cores or more" >&2; exit 2; }
  vouch_cores=$((cores - 1))
fi
jobs="${JOBS:-$vouch_cores}"
rm -rf "$work"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

cargo build --release --locked -p vouch-cli >&2
vouch="$PWD/target/release/vouch"

export VOUCH_S3S_ACCESS_KEY="AKIAVOUCHMEASURE0001" VOUCH_S3S_SECRET_KEY="measure-secret"
export VOUCH_GARAGE_ACCESS_KEY="GK$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
export VOUCH_GARAGE_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
moto_out="$(scripts/s3-server.sh start $$)"
s3s_out="$(scripts/s3-server.sh start-s3s-fs $$)"
garage_out="$(scripts/s3-server.sh start-garage $$)"
gcs_out="$(scripts/gcs-server.sh start $$)"
moto="$(echo "$moto_out" | sed -n 's/^VOUCH_S3_ENDPOINT=//p')"
s3s="$(echo "$s3s_out" | sed -n 's/^VOUCH_S3_ENDPOINT=//p')"
garage="$(echo "$garage_out" | sed -n 's/^VOUCH_S3_ENDPOINT=//p')"
gcs="$(echo "$gcs_out" | sed -n 's/^VOUCH_GCS_ENDPOINT=//p')"
# Each server's process, for the CPU time it spends serving the runs.
declare -A server_pid=(
  [local]=""
  [moto]="$(echo "$moto_out" | sed -n 's/^VOUCH_S3_PID=//p')"
  [s3s-fs]="$(echo "$s3s_out" | sed -n 's/^VOUCH_S3_PID=//p')"
  [garage]="$(echo "$garage_out" | sed -n 's/^VOUCH_S3_PID=//p')"
  [gcs]="$(echo "$gcs_out" | sed -n 's/^VOUCH_GCS_PID=//p')"
)
# With PIN=1, each server's threads (and those it starts later) on the last core, and every
# vouch run on the others.
run=("$vouch")
if [ "$pin" = 1 ]; then
  for p in "${server_pid[@]}"; do
    [ -z "$p" ] || taskset -a -p -c "$((cores - 1))" "$p" >/dev/null
  done
  run=(taskset -c "0-$((cores - 2))" "$vouch")
fi
# cpu_seconds PID: user + system CPU time of the process and its children so far.
cpu_seconds() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13 + $14 + $15) / hz }' "/proc/$1/stat"
}
# The emulator checks no credentials: unsigned requests (object_store's skip-signature).
export GOOGLE_SKIP_SIGNATURE=true
gs_uri() { # path
  echo "gs://vouch-test/$1?AUTH=implicit&GS_ENDPOINT=$gcs"
}
s3_uri() { # endpoint path
  local key="$VOUCH_S3S_ACCESS_KEY" secret="$VOUCH_S3S_SECRET_KEY"
  if [ "$1" = "$garage" ]; then key="$VOUCH_GARAGE_ACCESS_KEY" secret="$VOUCH_GARAGE_SECRET_KEY"; fi
  echo "s3://vouch-test/$2?AWS_ENDPOINT=$1&AWS_ACCESS_KEY_ID=$key&AWS_SECRET_ACCESS_KEY=$secret&AWS_REGION=us-east-1"
}

# backup_everywhere NAME ARGS...: the same backup into the local, moto, s3s-fs, Garage and
# GCS collections NAME.
backup_everywhere() {
  local name="$1"
  shift
  for uri in "file://$work/$name" "$(s3_uri "$moto" "$name")" "$(s3_uri "$s3s" "$name")" \
    "$(s3_uri "$garage" "$name")" "$(gs_uri "$name")"; do
    "$vouch" backup --cluster "$work/cluster" "$@" "$uri" >/dev/null 2>&1
  done
}

echo "building the collections: bank, $rows rows of $payload-byte payloads" >&2
"$vouch" cluster init "$work/cluster" --workload bank --rows "$rows" --payload-bytes "$payload" >/dev/null
t1="$("$vouch" cluster now "$work/cluster")"
"$vouch" cluster run "$work/cluster" --workload bank --ops "$((rows / 10))" --seed 2 >/dev/null
t2="$("$vouch" cluster now "$work/cluster")"
backup_everywhere full INTO --revision-history --as-of "$t1"
backup_everywhere full INTO LATEST IN --revision-history --as-of "$t2"
# At least OBJECTS objects, as FULLS (or more) full backups of a small cluster in one
# collection (each its own chain), their data files cut small: many layers, as a
# collection holding a season of nightly backups has. Each backup writes about
# OBJECTS / FULLS / 2 data files and a few objects more (manifest, checksums, listing,
# checkpoints at a bounded rate); backups are added until the collection holds OBJECTS.
"$vouch" cluster init "$work/small" --workload bank --rows "$small_rows" --payload-bytes 100 >/dev/null
"$vouch" backup --cluster "$work/small" INTO "file://$work/probe" >/dev/null 2>&1
bytes_small="$(find "$work/probe" -name '*.sst' -printf '%s\n' | awk '{ s += $1 } END { print s }')"
per_full=$((objects / fulls / 2))
target=$((bytes_small / per_full))
[ "$target" -ge 1024 ] || target=1024
made=0
while [ "$made" -lt "$fulls" ] || [ "$(find "$work/many" -type f | wc -l)" -lt "$objects" ]; do
  for uri in "file://$work/many" "$(s3_uri "$moto" many)" "$(s3_uri "$s3s" many)" \
    "$(s3_uri "$garage" many)" "$(gs_uri many)"; do
    "$vouch" backup --cluster "$work/small" INTO "$uri" --target-file-size "$target" >/dev/null 2>&1
  done
  made=$((made + 1))
done
rm -rf "$work/probe"
bytes_full="$(find "$work/full" -name '*.sst' -printf '%s\n' | awk '{ s += $1 } END { print s }')"
n_full="$(find "$work/full" -type f | wc -l)"
n_many="$(find "$work/many" -type f | wc -l)"
echo "full: $n_full objects, $((bytes_full >> 20)) MiB of data files; many: $n_many objects in $made full backups" >&2

results="$(mktemp)"
trap 'rm -f "$results"; rm -rf "$work"' EXIT
# measure LABEL LEVEL URI PID: RUNS timed runs after a warm-up; a failed verify stops the
# script. Records each run's wall time, vouch's CPU time (user + system) and the CPU time
# the server (process PID; none for local disk) spent meanwhile.
measure() {
  local label="$1" level="$2" uri="$3" pid="$4" t before after
  "${run[@]}" verify --level "$level" --jobs "$jobs" IN "$uri" >/dev/null
  for i in $(seq "$runs"); do
    before="$(cpu_seconds "$pid")"
    t="$( { /usr/bin/time -f '%e %U %S' "${run[@]}" verify --level "$level" --jobs "$jobs" IN "$uri" >/dev/null; } 2>&1 | tail -1)"
    after="$(cpu_seconds "$pid")"
    read -r wall user sys <<<"$t"
    echo "$label $wall $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') $(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')" >>"$results"
    printf '%-16s run %d: %6ss (vouch CPU %ss, server CPU %ss)\n' "$label" "$i" "$wall" \
      "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')"
  done
}
for store in ${STORES:-local moto s3s-fs garage gcs}; do
  case "$store" in
    local) full="file://$work/full" many="file://$work/many" ;;
    moto) full="$(s3_uri "$moto" full)" many="$(s3_uri "$moto" many)" ;;
    s3s-fs) full="$(s3_uri "$s3s" full)" many="$(s3_uri "$s3s" many)" ;;
    garage) full="$(s3_uri "$garage" full)" many="$(s3_uri "$garage" many)" ;;
    gcs) full="$(gs_uri full)" many="$(gs_uri many)" ;;
  esac
  measure "full/$store" full "$full" "${server_pid[$store]}"
  measure "metadata/$store" metadata "$many" "${server_pid[$store]}"
done

# median LABEL [COLUMN]: the median of a recorded column (2 wall, 3 vouch CPU, 4 server CPU).
median() { grep "^$1 " "$results" | awk -v c="${2:-2}" '{ print $c }' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo
if [ "$pin" = 1 ]; then
  echo "medians over $runs runs (--jobs $jobs; vouch on $vouch_cores of $cores cores, the servers on the last one):"
else
  echo "medians over $runs runs (--jobs $jobs, $cores cores shared by vouch and the servers):"
fi
local_full="$(median full/local)"
for store in ${STORES:-local moto s3s-fs garage gcs}; do
  f="$(median "full/$store")"
  m="$(median "metadata/$store")"
  awk -v s="$store" -v f="$f" -v l="$local_full" -v m="$m" -v b="$bytes_full" -v n="$n_many" 'BEGIN {
    printf "  %-7s verify --level full %6.2f s (%5.0f MiB/s, %.2fx local; goal <= 1.5x)   --level metadata over %d objects %6.2f s (goal < 3 s)\n",
      s, f, b / 1048576 / f, (l > 0 ? f / l : 0), n, m
  }'
  # The least wall time the CPU both processes spend allows (the server is not the
  # project's to speed up): shared, both over the machine's cores; pinned, vouch's over
  # its cores or the server's over its one, whichever is longer.
  awk -v s="$store" -v c="$(median "full/$store" 3)" -v v="$(median "full/$store" 4)" -v n="$cores" \
    -v vc="$vouch_cores" -v pin="$pin" -v l="$local_full" 'BEGIN {
    if (pin == 1) {
      f = c / vc; if (v > f) f = v
      printf "  %-7s   full: vouch CPU %.2f s over %d cores, server CPU %.2f s on its own: at least %.2f s (%.2fx local)\n",
        s, c, vc, v, f, (l > 0 ? f / l : 0)
    } else {
      f = (c + v) / n
      printf "  %-7s   full: vouch CPU %.2f s + server CPU %.2f s over %d cores: at least %.2f s (%.2fx local)\n",
        s, c, v, n, f, (l > 0 ? f / l : 0)
    }
  }'
done
