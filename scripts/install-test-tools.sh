#!/usr/bin/env bash
# Install the RocksDB command-line tools (sst_dump, ldb) used by vouch's
# tests to cross-check SST files.  Idempotent and non-interactive; Debian/
# Ubuntu only (package `rocksdb-tools`, which puts /usr/bin/sst_dump and
# /usr/bin/ldb on PATH).  Exports nothing; prints the tool paths/versions.
set -euo pipefail

have_tools() {
  { command -v sst_dump || command -v rocksdb_sst_dump; } >/dev/null 2>&1 &&
  { command -v ldb || command -v rocksdb_ldb; } >/dev/null 2>&1
}

if ! have_tools; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-tools: sst_dump/ldb missing and apt-get not available" >&2
    exit 1
  fi
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO=(sudo -n)
    else
      echo "install-test-tools: not root and no sudo; cannot install rocksdb-tools" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  ${SUDO[@]+"${SUDO[@]}"} apt-get update -q
  ${SUDO[@]+"${SUDO[@]}"} apt-get install -y -q --no-install-recommends rocksdb-tools
fi

if ! have_tools; then
  echo "install-test-tools: rocksdb-tools installed but sst_dump/ldb not on PATH" >&2
  exit 1
fi

# The KMS-compatible test server (moto, from PyPI) the keys, engine and CLI tests start
# needs python3 with venv; Debian ships venv separately.
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1; }; then
    SUDO=()
    [ "$(id -u)" -ne 0 ] && SUDO=(sudo -n)
    export DEBIAN_FRONTEND=noninteractive
    ${SUDO[@]+"${SUDO[@]}"} apt-get update -q
    ${SUDO[@]+"${SUDO[@]}"} apt-get install -y -q --no-install-recommends python3 python3-venv
  else
    echo "install-test-tools: python3 with venv is missing and cannot be installed here" >&2
    exit 1
  fi
fi
# groff renders the generated man page in the CLI's help tests (Debian: groff-base).
if ! command -v groff >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1; }; then
    SUDO=()
    [ "$(id -u)" -ne 0 ] && SUDO=(sudo -n)
    export DEBIAN_FRONTEND=noninteractive
    ${SUDO[@]+"${SUDO[@]}"} apt-get update -q
    ${SUDO[@]+"${SUDO[@]}"} apt-get install -y -q --no-install-recommends groff-base
  else
    echo "install-test-tools: groff is missing and cannot be installed here" >&2
    exit 1
  fi
fi
# The KMS-compatible test server (moto, from PyPI) the vouch-keys tests start.
"$(dirname "$0")/kms-server.sh" install

SST_DUMP="$(command -v sst_dump || command -v rocksdb_sst_dump)"
LDB="$(command -v ldb || command -v rocksdb_ldb)"
echo "sst_dump: ${SST_DUMP} ($("${SST_DUMP}" --version 2>&1 | head -n1))"
echo "ldb: ${LDB} ($("${LDB}" --version 2>&1 | head -n1))"
