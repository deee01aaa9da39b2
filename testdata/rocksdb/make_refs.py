#!/usr/bin/env python3
"""Regenerate the RocksDB reference SST files in this folder.

Writes plain.sst, zstd.sst and small.sst with RocksDB's own SstFileWriter
(through the `rocksdict` Python binding), using BlockBasedTable
format_version 2 and CRC32C block checksums, then records for each file:

  <name>.entries.jsonl   what was written, in key order, hex encoded
  <name>.sst_dump.txt    exact stdout of
                         `sst_dump --file=<name>.sst --command=scan --output_hex`
                         (run with this folder as the working directory)

and checks that sst_dump's scan agrees with what was written and that
`sst_dump --command=verify --verify_checksum` says "The file is ok".

Needs: rocksdict (scripts/install-fixture-tools.sh) and sst_dump
(scripts/install-test-tools.sh).  Run from anywhere:

    python3 testdata/rocksdb/make_refs.py
"""

import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys

from rocksdict import (
    BlockBasedOptions,
    ChecksumType,
    DBCompressionType,
    Options,
    SstFileWriter,
)

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240601
N_ENTRIES = 3000

BLOCK_BASED_MAGIC = 0x88E241B785F4CFF7
FOOTER_LEN_V1 = 53  # format_version 1..5 footer
CRC32C_TYPE = 1

# One line of `sst_dump --command=scan --output_hex`:
#   'KEYHEX' seq:SEQ, type:TYPE => VALUEHEX
# (upper-case hex; VALUEHEX is empty for an empty value, the line then ends
# in "=> " with a trailing space).
SCAN_LINE = re.compile(r"^'([0-9A-F]*)' seq:(\d+), type:(\d+) => ([0-9A-F]*)$")


# ---------------------------------------------------------------- contents

def make_entries(n, seed):
    """Deterministic entries: keys 1..40 bytes sharing prefixes, values
    0..300 bytes (compressible text so zstd actually compresses)."""
    rng = random.Random(seed)
    alpha = b"abcdefghijklmnopqrstuvwxyz0123456789_/-."
    # A few dozen prefixes of 0..20 bytes; many keys share them.
    prefixes = [b""]
    for _ in range(60):
        plen = rng.randint(1, 20)
        prefixes.append(bytes(rng.choice(alpha) for _ in range(plen)))
    # Nested prefixes too (prefix of a prefix + more).
    for _ in range(20):
        base = rng.choice(prefixes)
        ext = bytes(rng.choice(alpha) for _ in range(rng.randint(1, 8)))
        prefixes.append((base + ext)[:30])

    keys = set()
    # Fixed special keys.
    keys.add(b"\x00")                       # smallest possible 1-byte key
    keys.add(b"\xff")                       # largest 1-byte key
    keys.add(b"k\x00\xffk")                 # embedded 0x00 and 0xff
    keys.add(b"\x00\xff" * 20)              # 40 bytes, binary
    keys.add(b"\xff" * 40)                  # last key, 40 x 0xff
    keys.add(b"a")
    keys.add(b"empty-value-key")
    while len(keys) < n:
        klen = rng.randint(1, 40)
        p = rng.choice(prefixes)[:klen]
        rest = klen - len(p)
        k = p + bytes(rng.choice(alpha) for _ in range(rest))
        keys.add(k)

    words = [b"alpha", b"beta", b"gamma", b"delta", b"rocks", b"table",
             b"block", b"value", b"vouch", b"index", b"\x00\x01", b"\xff"]
    entries = []
    for k in sorted(keys):  # bytes sort == RocksDB BytewiseComparator
        if k == b"empty-value-key":
            v = b""
        else:
            vlen = rng.choice([0, rng.randint(0, 300), rng.randint(0, 300),
                               rng.randint(0, 300)])
            buf = bytearray()
            while len(buf) < vlen:
                if rng.random() < 0.2:
                    buf += bytes([rng.randrange(256)])
                else:
                    buf += rng.choice(words) + b" "
            v = bytes(buf[:vlen])
        entries.append((k, v))
    return entries


SMALL_ENTRIES = [
    (b"apple", b"red"),
    (b"banana", b""),
    (b"cherry", b"dark red"),
    (b"k\x00\xff", b"\x00\x01\x02\xff"),
    (b"zucchini", b"green" * 10),
]


# ---------------------------------------------------------------- writing

def write_sst(path, entries, compression):
    opts = Options(raw_mode=True)  # raw bytes keys/values, no pickling
    table = BlockBasedOptions()
    table.set_format_version(2)
    table.set_checksum_type(ChecksumType.crc32c())
    # Defaults kept explicit: 4 KiB blocks, restart interval 16.
    table.set_block_size(4096)
    table.set_block_restart_interval(16)
    opts.set_block_based_table_factory(table)
    opts.set_compression_type(compression)  # default would be snappy!
    if os.path.exists(path):
        os.remove(path)
    w = SstFileWriter(options=opts)
    w.open(path)
    for k, v in entries:
        w[k] = v
    w.finish()


def check_footer(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<Q", data, len(data) - 8)[0]
    version = struct.unpack_from("<I", data, len(data) - 12)[0]
    checksum = data[len(data) - FOOTER_LEN_V1]
    assert magic == BLOCK_BASED_MAGIC, f"{path}: magic {magic:#x}"
    assert version == 2, f"{path}: format_version {version}"
    assert checksum == CRC32C_TYPE, f"{path}: checksum type {checksum}"


# ---------------------------------------------------------------- sst_dump

def find_sst_dump():
    for name in ("sst_dump", "rocksdb_sst_dump"):
        p = shutil.which(name)
        if p:
            return p
    sys.exit("sst_dump not found: run scripts/install-test-tools.sh")


def run_scan(sst_dump, name):
    r = subprocess.run(
        [sst_dump, f"--file={name}.sst", "--command=scan", "--output_hex"],
        cwd=HERE, capture_output=True)
    assert r.returncode == 0, f"scan {name}: rc {r.returncode} {r.stderr!r}"
    assert r.stderr == b"", f"scan {name}: stderr {r.stderr!r}"
    return r.stdout


def parse_scan(stdout):
    got = []
    for line in stdout.decode("ascii").split("\n"):
        m = SCAN_LINE.match(line)
        if m:
            key, seq, typ, val = m.groups()
            got.append((bytes.fromhex(key), int(seq), int(typ),
                        bytes.fromhex(val)))
    return got


def run_verify(sst_dump, name):
    r = subprocess.run(
        [sst_dump, f"--file={name}.sst", "--command=verify",
         "--verify_checksum"],
        cwd=HERE, capture_output=True)
    assert r.returncode == 0, f"verify {name}: rc {r.returncode}"
    assert r.stderr == b"", f"verify {name}: stderr {r.stderr!r}"
    assert b"The file is ok" in r.stdout, f"verify {name}: {r.stdout!r}"


# ---------------------------------------------------------------- main

def main():
    sst_dump = find_sst_dump()
    big = make_entries(N_ENTRIES, SEED)
    specs = [
        ("plain", big, DBCompressionType.none()),
        ("zstd", big, DBCompressionType.zstd()),
        ("small", SMALL_ENTRIES, DBCompressionType.none()),
    ]
    for name, entries, compression in specs:
        keys = [k for k, _ in entries]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        sst = os.path.join(HERE, name + ".sst")
        write_sst(sst, entries, compression)
        check_footer(sst)

        with open(os.path.join(HERE, name + ".entries.jsonl"), "w") as f:
            for k, v in entries:
                f.write(json.dumps({"key": k.hex(), "value": v.hex()},
                                   separators=(",", ":")) + "\n")

        out = run_scan(sst_dump, name)
        with open(os.path.join(HERE, name + ".sst_dump.txt"), "wb") as f:
            f.write(out)
        got = parse_scan(out)
        want = [(k, 0, 1, v) for k, v in entries]  # seq 0, kTypeValue
        assert got == want, f"{name}: sst_dump scan disagrees with entries"

        run_verify(sst_dump, name)
        print(f"{name}.sst: {len(entries)} entries, "
              f"{os.path.getsize(sst)} bytes, sst_dump scan + verify ok")


if __name__ == "__main__":
    main()
