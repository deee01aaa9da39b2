#!/usr/bin/env python3
"""Tiny, independent decoder for RocksDB block-based table files
(format_version 1..5 footer), used to document what RocksDB writes.

    python3 testdata/rocksdb/inspect_sst.py testdata/rocksdb/zstd.sst

Prints the footer, every block's trailer (type, CRC32C check), the
metaindex entries, the decoded table properties, index block details and
data block layout (restart interval, zstd framing).  Decompressing zstd
blocks uses the `zstd` command-line tool when present (no Python deps).
"""

import shutil
import struct
import subprocess
import sys

MAGIC = 0x88E241B785F4CFF7
COMPRESSION = {0: "none", 1: "snappy", 2: "zlib", 3: "bzip2", 4: "lz4",
               5: "lz4hc", 6: "xpress", 7: "zstd"}

# ---------------------------------------------------------------- crc32c

_T = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _T.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _T[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def unmask(m):
    rot = (m - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# ---------------------------------------------------------------- varints

def varint(buf, pos):
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def handle(buf, pos=0):
    off, pos = varint(buf, pos)
    size, pos = varint(buf, pos)
    return (off, size), pos


# ---------------------------------------------------------------- blocks

class Sst:
    def __init__(self, path):
        self.data = open(path, "rb").read()

    def footer(self):
        d = self.data
        magic = struct.unpack_from("<Q", d, len(d) - 8)[0]
        assert magic == MAGIC, hex(magic)
        version = struct.unpack_from("<I", d, len(d) - 12)[0]
        start = len(d) - 53
        checksum_type = d[start]
        meta, p = handle(d, start + 1)
        index, p = handle(d, p)
        padding = d[p:len(d) - 12]
        return dict(format_version=version, checksum_type=checksum_type,
                    metaindex=meta, index=index,
                    padding_all_zero=all(b == 0 for b in padding),
                    footer_offset=start)

    def raw_block(self, h):
        off, size = h
        contents = self.data[off:off + size]
        btype = self.data[off + size]
        stored = struct.unpack_from("<I", self.data, off + size + 1)[0]
        ok = crc32c(self.data[off:off + size + 1]) == unmask(stored)
        return contents, btype, ok

    def block(self, h):
        contents, btype, ok = self.raw_block(h)
        assert ok, f"bad crc at {h}"
        info = {"type": COMPRESSION.get(btype, btype), "stored": len(contents)}
        if btype == 0:
            return contents, info
        if btype == 7:
            ulen, p = varint(contents, 0)
            frame = contents[p:]
            info.update(zstd_info(ulen, p, frame))
            out = zstd_decompress(frame)
            if out is not None:
                assert len(out) == ulen, (len(out), ulen)
                info["decompressed_matches_prefix"] = True
            return out, info
        raise NotImplementedError(COMPRESSION.get(btype, btype))


def zstd_info(ulen, prefix_len, frame):
    magic = struct.unpack_from("<I", frame, 0)[0]
    fhd = frame[4]
    fcs_flag = fhd >> 6
    single = (fhd >> 5) & 1
    checksum = (fhd >> 2) & 1
    dict_flag = fhd & 3
    fcs_size = {0: 1 if single else 0, 1: 2, 2: 4, 3: 8}[fcs_flag]
    p = 5 + (0 if single else 1) + [0, 1, 2, 4][dict_flag]
    fcs = None
    if fcs_size:
        fcs = int.from_bytes(frame[p:p + fcs_size], "little")
        if fcs_size == 2:
            fcs += 256
    return {"uncompressed_len_prefix": ulen,
            "prefix_varint_bytes": prefix_len,
            "zstd_magic_ok": magic == 0xFD2FB528,
            "frame_content_size": fcs,
            "frame_single_segment": bool(single),
            "frame_content_checksum": bool(checksum),
            "frame_dict_id_flag": dict_flag}


def zstd_decompress(frame):
    exe = shutil.which("zstd")
    if not exe:
        return None
    r = subprocess.run([exe, "-d", "-c", "-q"], input=frame,
                       capture_output=True, check=True)
    return r.stdout


def parse_block(b):
    """Returns (entries [(shared, key, value)], restarts list, raw num)."""
    num_raw = struct.unpack_from("<I", b, len(b) - 4)[0]
    num = num_raw & 0x7FFFFFFF  # top bit = data block hash index present
    restarts_off = len(b) - 4 - 4 * num
    restarts = list(struct.unpack_from("<%dI" % num, b, restarts_off))
    entries, pos, last = [], 0, b""
    offsets = []
    while pos < restarts_off:
        offsets.append(pos)
        shared, pos = varint(b, pos)
        non_shared, pos = varint(b, pos)
        vlen, pos = varint(b, pos)
        key = last[:shared] + b[pos:pos + non_shared]
        pos += non_shared
        val = b[pos:pos + vlen]
        pos += vlen
        entries.append((shared, key, val))
        last = key
    for r in restarts:
        i = offsets.index(r)
        assert entries[i][0] == 0, "restart entry has shared > 0"
    return entries, restarts, offsets, num_raw


def restart_interval(entries, restarts, offsets):
    idx = [offsets.index(r) for r in restarts]
    gaps = sorted({b - a for a, b in zip(idx, idx[1:])})
    return gaps, len(entries) - idx[-1]


def rocksdb_separator(start, limit):
    """BytewiseComparatorImpl::FindShortestSeparator (RocksDB 9.x)."""
    start = bytearray(start)
    n = min(len(start), len(limit))
    i = 0
    while i < n and start[i] == limit[i]:
        i += 1
    if i >= n:
        return bytes(start)
    sb, lb = start[i], limit[i]
    if sb >= lb:
        return bytes(start)
    if i < len(limit) - 1 or sb + 1 < lb:
        start[i] += 1
        return bytes(start[:i + 1])
    i += 1
    while i < len(start):
        if start[i] < 0xFF:
            start[i] += 1
            return bytes(start[:i + 1])
        i += 1
    return bytes(start)


def internal_separator(last_ikey, next_ikey):
    """InternalKeyComparator::FindShortestSeparator: shorten the user key;
    if it became shorter-or-equal and larger, use trailer
    (kMaxSequenceNumber << 8 | kValueTypeForSeek 0x18); else keep the
    full last internal key."""
    us, ul = last_ikey[:-8], next_ikey[:-8]
    tmp = rocksdb_separator(us, ul)
    if len(tmp) <= len(us) and us < tmp:
        return tmp + struct.pack("<Q", (0xFFFFFFFFFFFFFF << 8) | 0x18)
    return last_ikey


def split_ikey(k):
    tag = struct.unpack_from("<Q", k, len(k) - 8)[0]
    return k[:-8], tag >> 8, tag & 0xFF


# ---------------------------------------------------------------- props

STRING_PROPS = {
    "rocksdb.column.family.name", "rocksdb.comparator",
    "rocksdb.compression", "rocksdb.compression_options",
    "rocksdb.filter.policy", "rocksdb.merge.operator",
    "rocksdb.prefix.extractor.name", "rocksdb.property.collectors",
    "rocksdb.creating.db.identity", "rocksdb.creating.session.identity",
    "rocksdb.creating.host.identity", "rocksdb.block.based.table.prefix.filtering",
    "rocksdb.block.based.table.whole.key.filtering",
}
FIXED32_PROPS = {"rocksdb.block.based.table.index.type",
                 "rocksdb.external_sst_file.version"}
FIXED64_PROPS = {"rocksdb.external_sst_file.global_seqno"}
BYTES_PROPS = {"rocksdb.seqno.time.map"}


def decode_prop(name, v):
    if name in STRING_PROPS:
        return repr(v.decode("latin-1"))
    if name in FIXED32_PROPS:
        return "fixed32 %d" % struct.unpack("<I", v)[0]
    if name in FIXED64_PROPS:
        return "fixed64 %d" % struct.unpack("<Q", v)[0]
    if name in BYTES_PROPS:
        return "bytes 0x" + v.hex()
    n, p = varint(v, 0)
    assert p == len(v), (name, v)
    return "varint64 %d" % n


# ---------------------------------------------------------------- report

def report(path):
    s = Sst(path)
    f = s.footer()
    print(f"== {path} ({len(s.data)} bytes)")
    print("footer:", f)

    meta, info = s.block(f["metaindex"])
    me, mr, mo, mn = parse_block(meta)
    print("metaindex block:", info, "restarts:", mn)
    meta_handles = {}
    for _, k, v in me:
        h, _ = handle(v)
        meta_handles[k.decode()] = h
        _, btype, ok = s.raw_block(h)
        print(f"  {k.decode()!r} -> offset {h[0]} size {h[1]} "
              f"(block type {COMPRESSION[btype]}, crc ok {ok})")

    props, info = s.block(meta_handles["rocksdb.properties"])
    pe, pr, po, pn = parse_block(props)
    gaps, tail = restart_interval(pe, pr, po)
    print(f"properties block: {info} entries {len(pe)} restarts {pn} "
          f"(restart gaps {gaps}, last run {tail})")
    for _, k, v in pe:
        print(f"  {k.decode()} = {decode_prop(k.decode(), v)}")

    idx, info = s.block(f["index"])
    ie, ir, io, inr = parse_block(idx)
    gaps, tail = restart_interval(ie, ir, io)
    print(f"index block: {info} entries {len(ie)} restarts {inr} "
          f"(restart gaps {gaps}, last run {tail})")

    data_types = {}
    data_gaps = set()
    separators = []
    prev_last = None
    zinfo = []
    hash_index = set()
    blocks = []
    sizes = []
    for n, (_, ikey, v) in enumerate(ie):
        h, p = handle(v)
        assert p == len(v), "index value is more than a BlockHandle"
        blk, binfo = s.block(h)
        data_types[binfo["type"]] = data_types.get(binfo["type"], 0) + 1
        if binfo["type"] == "zstd":
            zinfo.append(binfo)
        de, dr, do, dn = parse_block(blk)
        blocks.append((ikey, de))
        sizes.append(len(blk))
        hash_index.add(bool(dn >> 31))
        g, _ = restart_interval(de, dr, do)
        data_gaps.update(g)
        first_ukey = split_ikey(de[0][1])[0]
        last_ukey, lseq, ltype = split_ikey(de[-1][1])
        iuk, iseq, itype = split_ikey(ikey)
        separators.append((n, len(ikey), iuk, iseq, itype, last_ukey,
                           prev_last, first_ukey))
        assert last_ukey <= iuk
        prev_last = last_ukey
    print("data blocks:", len(ie), "by type", data_types,
          "restart gaps", sorted(data_gaps), "hash index bit", hash_index)
    body = sizes[:-1] or sizes
    print("uncompressed data block sizes (excluding last): min", min(body),
          "max", max(body), "; last", sizes[-1])
    agree = 0
    for n, (ikey, de) in enumerate(blocks):
        if n + 1 < len(blocks):
            want = internal_separator(de[-1][1], blocks[n + 1][1][0][1])
        else:
            want = de[-1][1]  # last block: full last key, not shortened
        agree += want == ikey
    print(f"index keys matching RocksDB separator rule "
          f"(kShortenSeparators): {agree}/{len(blocks)}")
    kept = [split_ikey(k)[1:] for k, de in blocks if k == de[-1][1]]
    print("index keys kept as the block's full last internal key:",
          len(kept), "(seq,type):", sorted(set(kept)))
    exact = sum(1 for s_ in separators if s_[2] == s_[5])
    print(f"index keys equal to block's last user key: {exact}/{len(ie)}; "
          f"all index keys are user key + 8-byte trailer")
    for n, klen, iuk, iseq, itype, luk, _, nfirst in separators[:4] + separators[-2:]:
        print(f"  idx[{n}] key {iuk.hex()} seq {iseq} type {itype} "
              f"| block last {luk.hex()}")
    if zinfo:
        print("zstd data block example:", zinfo[0])
        print("zstd frames: content size present in",
              sum(1 for z in zinfo if z["frame_content_size"] is not None),
              "of", len(zinfo), "; checksum flag in",
              sum(1 for z in zinfo if z["frame_content_checksum"]))
    print("first index entries (raw):")
    for _, k, v in ie[:2]:
        print("  key", k.hex(), "value", v.hex())


if __name__ == "__main__":
    for p in sys.argv[1:]:
        report(p)
        print()
