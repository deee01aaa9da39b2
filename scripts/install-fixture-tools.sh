#!/usr/bin/env bash
# Install what is needed to REGENERATE testdata/rocksdb/ (not to run tests):
# the `rocksdict` Python binding (bundles its own RocksDB), plus the
# sst_dump tool via install-test-tools.sh.  Idempotent, non-interactive.
# Then: python3 testdata/rocksdb/make_refs.py
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"${HERE}/install-test-tools.sh"

PY="${PYTHON:-python3}"
if ! "${PY}" -c 'import rocksdict' >/dev/null 2>&1; then
  # The reference files were made with rocksdict 0.3.29 (RocksDB 9.8.4).
  "${PY}" -m pip install --quiet --disable-pip-version-check 'rocksdict==0.3.29'
fi
"${PY}" - <<'PYEOF'
import importlib.metadata as m
import rocksdict
print("rocksdict:", rocksdict.__file__, m.version("rocksdict"))
PYEOF
