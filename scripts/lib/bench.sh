# shellcheck shell=bash
# Sourced by the benchmark scripts (bench-verify-peers.sh, bench-verify-metadata.sh,
# bench-verify-rss.sh): the one copy of choosing the vouch binary and of building the bank
# collection they measure. Run from the repository's root.

# bench_vouch: sets `vouch` to $VOUCH (a built binary, made absolute) or to a release
# build of this checkout; exits 2 when there is no binary.
bench_vouch() {
  if [ -n "${VOUCH:-}" ]; then
    vouch="$(cd "$(dirname "$VOUCH")" && pwd)/$(basename "$VOUCH")"
  else
    cargo build --release --locked -p vouch-cli >&2
    vouch="$PWD/target/release/vouch"
  fi
  [ -x "$vouch" ] || { echo "no vouch binary at $vouch" >&2; exit 2; }
}

# bench_bank_chain CLUSTER COLLECTION ROWS PAYLOAD OPS: a bank cluster of ROWS rows of
# PAYLOAD-byte payloads, backed up into COLLECTION as a full backup with revision history
# and two revision-history incrementals, OPS workload operations before each incremental.
bench_bank_chain() {
  local cluster="$1" coll="$2" rows="$3" payload="$4" ops="$5" seed
  echo "building the collection: bank, $rows rows of $payload-byte payloads" >&2
  "$vouch" cluster init "$cluster" --workload bank --rows "$rows" --payload-bytes "$payload" >&2
  "$vouch" backup --cluster "$cluster" INTO "file://$coll" --revision-history >/dev/null
  for seed in 2 3; do
    "$vouch" cluster run "$cluster" --workload bank --ops "$ops" --seed "$seed" >/dev/null
    "$vouch" backup --cluster "$cluster" INTO LATEST IN "file://$coll" --revision-history >/dev/null
  done
}
