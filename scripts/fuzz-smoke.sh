#!/usr/bin/env bash
# Short run of every cargo-fuzz target in fuzz/: builds them all, runs each for SECONDS
# (default 20) with -max_total_time, prints one line per target, and exits non-zero if any
# target crashed (or failed to build). Crash inputs land in fuzz/artifacts/<target>/; keep
# one as testdata/fuzz-regressions/<target>/<name> once fixed.
#
#   scripts/fuzz-smoke.sh [SECONDS]
#
# Environment: FUZZ_SANITIZER (default `address`; `none` builds and runs faster),
# FUZZ_TARGETS (space-separated subset). Uses `cargo +nightly` when a nightly toolchain is
# installed, else the default toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-20}"
sanitizer="${FUZZ_SANITIZER:-address}"
case "$secs" in '' | *[!0-9]*) echo "fuzz-smoke: SECONDS must be a whole number, got '$secs'" >&2; exit 2 ;; esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

if command -v rustup >/dev/null 2>&1 && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz() { cargo +nightly fuzz "$@"; }
  toolchain="nightly"
else
  fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
  toolchain="$(rustc --version) with RUSTC_BOOTSTRAP=1"
fi

targets="${FUZZ_TARGETS:-$(fuzz list)}"
logs="target/fuzz-smoke"
mkdir -p "$logs"

start=$SECONDS
echo "fuzz-smoke: building all targets ($toolchain, sanitizer $sanitizer); running: $(echo $targets)"
if ! fuzz build --sanitizer "$sanitizer" >"$logs/build.log" 2>&1; then
  tail -n 40 "$logs/build.log" >&2
  echo "fuzz-smoke: build FAILED (log: fuzz/$logs/build.log)" >&2
  exit 1
fi
echo "fuzz-smoke: built in $((SECONDS - start))s"

failed=0
for t in $targets; do
  mkdir -p "corpus/$t"
  log="$logs/$t.log"
  t0=$SECONDS
  if fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 >"$log" 2>&1; then
    runs="$(grep -o 'Done [0-9]* runs' "$log" | tail -n 1 | grep -o '[0-9]*' || true)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || true)"
    corpus="$(find "corpus/$t" -type f | wc -l)"
    printf 'fuzz-smoke: %-18s ok    %8s runs in %3ss, cov %s, corpus %s\n' \
      "$t" "${runs:-?}" "$((SECONDS - t0))" "${cov:-?}" "$corpus"
  else
    failed=1
    artifact="$(grep -o 'artifacts/[^ ]*' "$log" | tail -n 1 || true)"
    printf 'fuzz-smoke: %-18s FAIL  after %ss; input: fuzz/%s; log: fuzz/%s\n' \
      "$t" "$((SECONDS - t0))" "${artifact:-?}" "$log"
    grep -m 5 -E "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | sed 's/^/    /' >&2 || true
  fi
done
echo "fuzz-smoke: total $((SECONDS - start))s"
exit "$failed"
