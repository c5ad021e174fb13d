#!/usr/bin/env python3
"""Writes the tiny corrupt GGUF and safetensors files used by Tests/FormatsTests.

One file per error case the readers must report (like llama.cpp's test-gguf.cpp, but as
committed fixtures). Each file is a few hundred bytes; stdlib only. Run from the repository
root:  python3 scripts/make-format-fixtures.py
Spec followed: ggml docs/gguf.md (GGUF v3, little-endian) and the safetensors README.
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FormatsTests", "Fixtures")

# GGUF value type ids
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
# ggml type ids used here
F32, Q4_0 = 0, 2


def gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return gstr(key) + struct.pack("<I", vtype) + payload


def kv_u32(key, v):
    return kv(key, UINT32, struct.pack("<I", v))


def tensor_info(name, dims, ggml_type, offset):
    out = gstr(name) + struct.pack("<I", len(dims))
    for d in dims:
        out += struct.pack("<Q", d)
    return out + struct.pack("<IQ", ggml_type, offset)


def gguf(kvs=(), tensors=(), data=b"", version=3, magic=b"GGUF", n_tensors=None, n_kv=None, alignment=32):
    """A GGUF image: header, metadata, tensor infos, padding to `alignment`, data."""
    body = magic + struct.pack("<I", version)
    body += struct.pack("<QQ", len(tensors) if n_tensors is None else n_tensors, len(kvs) if n_kv is None else n_kv)
    for k in kvs:
        body += k
    for t in tensors:
        body += t
    if tensors:
        body += b"\0" * ((-len(body)) % alignment)
    return body + data


def f32_tensor(name="t", n=8, offset=0):
    return tensor_info(name, [n], F32, offset)


def f32_data(n=8):
    return struct.pack("<%df" % n, *[float(i) for i in range(n)])


def safetensors(header, data=b"", header_len=None):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    h += b" " * ((-len(h)) % 8)
    n = len(h) if header_len is None else header_len
    return struct.pack("<Q", n) + h + data


def main():
    files = {}
    good_kv = kv_u32("general.alignment", 32)

    # --- GGUF -------------------------------------------------------------------------------
    files["gguf-bad-magic.gguf"] = gguf([good_kv], magic=b"GGUX")
    files["gguf-unsupported-version.gguf"] = gguf([good_kv], version=1)
    files["gguf-truncated-header.gguf"] = (b"GGUF" + struct.pack("<I", 3) + struct.pack("<Q", 0))[:14]
    # key declares 20 bytes, only 5 follow
    files["gguf-truncated-string.gguf"] = gguf(n_kv=1) + struct.pack("<Q", 20) + b"gener"
    # key length 2^62
    files["gguf-absurd-string-length.gguf"] = gguf(n_kv=1) + struct.pack("<Q", 1 << 62) + b"general.name"
    # array of 10 UINT32 with only 3 present
    files["gguf-truncated-array.gguf"] = gguf([kv("a", ARRAY, struct.pack("<IQ", UINT32, 10) + struct.pack("<3I", 1, 2, 3))])
    # array claiming 2^40 UINT32 elements
    files["gguf-absurd-array-length.gguf"] = gguf([kv("a", ARRAY, struct.pack("<IQ", UINT32, 1 << 40))])
    files["gguf-unknown-value-type.gguf"] = gguf([kv("weird", 13, struct.pack("<I", 7))])
    # ggml type 4 (the removed Q4_2) is not a valid type
    files["gguf-unknown-tensor-type.gguf"] = gguf([good_kv], [tensor_info("t", [32], 4, 0)], b"\0" * 32)
    files["gguf-too-many-dims.gguf"] = gguf([good_kv], [tensor_info("t", [1, 1, 1, 1, 2], F32, 0)], f32_data(2))
    files["gguf-misaligned-offset.gguf"] = gguf(
        [good_kv], [f32_tensor("a", 8, 0), f32_tensor("b", 8, 36)], f32_data(8) + f32_data(8) + b"\0" * 32)
    # 64 floats declared, 8 present
    files["gguf-tensor-past-eof.gguf"] = gguf([good_kv], [f32_tensor("t", 64, 0)], f32_data(8))
    files["gguf-duplicate-key.gguf"] = gguf([kv_u32("x.count", 1), kv_u32("x.count", 2)])
    files["gguf-duplicate-tensor.gguf"] = gguf(
        [good_kv], [f32_tensor("w", 8, 0), f32_tensor("w", 8, 32)], f32_data(8) + f32_data(8))
    # Q4_0 rows must be whole 32-element blocks
    files["gguf-partial-block.gguf"] = gguf([good_kv], [tensor_info("q", [16], Q4_0, 0)], b"\0" * 32)

    # --- safetensors ------------------------------------------------------------------------
    ok_entry = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    payload = struct.pack("<4f", 1, 2, 3, 4)
    st = safetensors({"a": ok_entry}, payload)
    files["st-header-past-eof.safetensors"] = struct.pack("<Q", len(st)) + st[8:]
    files["st-bad-json.safetensors"] = safetensors(b'{"a": {"dtype": "F32", "shape": [2, 2], ', payload)
    files["st-offsets-out-of-range.safetensors"] = safetensors(
        {"a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}, payload)
    files["st-size-mismatch.safetensors"] = safetensors(
        {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, payload)
    files["st-unknown-dtype.safetensors"] = safetensors(
        {"a": {"dtype": "F12", "shape": [4], "data_offsets": [0, 16]}}, payload)
    files["st-overlap.safetensors"] = safetensors(
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
         "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, payload)

    os.makedirs(OUT, exist_ok=True)
    for name, blob in sorted(files.items()):
        assert len(blob) < 4096, name
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(blob)
        print("%-40s %5d bytes" % (name, len(blob)))


if __name__ == "__main__":
    main()
