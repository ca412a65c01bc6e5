#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into tests/fuzz/corpus/<target>/: small valid
files of each format, so that libFuzzer starts from inputs that reach deep into the parsers.
Standard library only, except the JPEG seeds: make_jpeg_seeds.cpp encodes them with libjpeg
(compiled here with $CXX or c++). Rerun after changing a format; the output is committed."""
import gzip
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
            "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
            "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
            "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
            "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
            "reduce_concat=[2, 3, 4, 5])")
SEARCH_DERIVED = ("Genotype(normal=[('skip_connect', 1), ('sep_conv_3x3', 0), "
                  "('dil_conv_5x5', 1), ('avg_pool_3x3', 2)], normal_concat=range(2, 4), "
                  "reduce=[], reduce_concat=range(2, 4))")
KATIB = ("Best-Genotype=Genotype(normal=[[('separable_convolution_3x3',0),"
         "('separable_convolution_3x3',1)],[('skip_connection',0),('dilated_convolution_3x3',2)]],"
         "normal_concat=range(2,4),reduce=[[('max_pooling_3x3',0),('max_pooling_3x3',1)],"
         "[('skip_connection',2),('avg_pooling_3x3',0)]],reduce_concat=range(2,4))")
KATIB_ONE_CELL = ("Genotype(normal=[[('max_pooling_3x3',1),('max_pooling_3x3',0)]],"
                  "normal_concat=range(2,3),reduce=[],reduce_concat=range(2,3))")
GENOTYPE_JSON = {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["skip_connect", 0],
                            ["dil_conv_3x3", 2]],
                 "normal_concat": [2, 3],
                 "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2],
                            ["avg_pool_3x3", 0]],
                 "reduce_concat": [2, 3]}
SETTINGS = ("{'num_epochs': '3', 'w_lr': 0.025, 'w_lr_min': 0.001, 'w_momentum': 0.9, "
            "'w_weight_decay': 0.0003, 'w_grad_clip': 5.0, 'alpha_lr': 0.0003, "
            "'alpha_weight_decay': 0.001, 'batch_size': 128, 'num_workers': 4, "
            "'init_channels': 16, 'print_step': 50, 'num_nodes': 4, 'stem_multiplier': 3}")
SEARCH_SPACE = ("['separable_convolution_3x3', 'dilated_convolution_3x3', "
                "'dilated_convolution_5x5', 'avg_pooling_3x3', 'max_pooling_3x3', "
                "'skip_connection']")


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    header, blob = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blob


def idx_pair(n, rows, cols, compress):
    labels = struct.pack(">II", 0x801, n) + bytes((3 * i) % 10 for i in range(n))
    images = struct.pack(">IIII", 0x803, n, rows, cols) + bytes(
        (i * 37 + 11) % 256 for i in range(n * rows * cols))
    if compress:
        labels, images = gzip.compress(labels, mtime=0), gzip.compress(images, mtime=0)
    return struct.pack("<H", len(labels)) + labels + images


def png(w, h, depth, color, rows, plte=b""):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data)))
    raw = b"".join(b"\0" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
    if plte:
        out += chunk(b"PLTE", plte)
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main():
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    f32 = struct.pack("<6f", 0.5, -1.0, 2.0, 0.0, 3.5, -0.25)
    put("safetensors", "two_tensors", safetensors(
        [("alphas_normal", "F32", [2, 3], f32), ("step", "I64", [2], struct.pack("<2q", 7, -1))],
        {"epoch": "3", "options": "{\"layers\": 5}"}))
    put("safetensors", "scalar_and_empty", safetensors(
        [("s", "I32", [], struct.pack("<i", 42)), ("e", "F32", [0, 4], b"")]))
    put("safetensors", "empty", safetensors([]))

    put("genotype_darts", "darts_v2", DARTS_V2)
    put("genotype_darts", "derived_range", SEARCH_DERIVED)
    put("genotype_katib", "best_genotype", KATIB)
    put("genotype_katib", "one_cell", KATIB_ONE_CELL)
    put("genotype_json", "plain", json.dumps(GENOTYPE_JSON))
    put("genotype_json", "wrapped", json.dumps({"genotype": GENOTYPE_JSON, "epoch": 3}, indent=1))

    put("katib_settings", "katib_md", SETTINGS)
    put("katib_settings", "double_quoted", '"' + SETTINGS.replace("'num_epochs': '3'",
                                                                   "'first_order': 'true'") + '"')
    put("katib_settings", "null_and_seed", "{'seed': '7', 'train_portion': '0.5', 'w_lr': null}")
    put("katib_search_space", "katib_md", SEARCH_SPACE)
    put("katib_search_space", "official_with_none", '["sep_conv_3x3", "none", "skip_connect"]')

    def cifar(n, label_bytes):
        return b"".join(bytes(label_bytes - 1) + bytes([(3 * i) % 10]) +
                        bytes((i + k) % 256 for k in range(3072)) for i in range(n))
    put("cifar", "cifar10_two", cifar(2, 1))
    put("cifar", "cifar100_one", cifar(1, 2))

    put("idx_plain", "three_4x5", idx_pair(3, 4, 5, False))
    put("idx_plain", "one_1x1", idx_pair(1, 1, 1, False))
    put("idx_gz", "three_4x5", idx_pair(3, 4, 5, True))
    put("idx_gz", "two_7x3", idx_pair(2, 7, 3, True))

    put("png", "gray_4x3", png(4, 3, 8, 0, [bytes([10 * y + x for x in range(4)]) for y in range(3)]))
    put("png", "rgb_3x2", png(3, 2, 8, 2, [bytes(range(y, y + 9)) for y in range(2)]))
    put("png", "rgba16_2x2", png(2, 2, 16, 6, [bytes(range(16)) for _ in range(2)]))
    put("png", "palette_4x2", png(4, 2, 2, 3, [b"\x1b", b"\xe4"], plte=bytes(range(12))))

    # JPEG needs an encoder: libjpeg through the small C++ program beside this script.
    here = os.path.dirname(os.path.abspath(__file__))
    os.makedirs(os.path.join(ROOT, "jpeg"), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tool = os.path.join(tmp, "make_jpeg_seeds")
        subprocess.run([os.environ.get("CXX", "c++"), "-O1", "-o", tool,
                        os.path.join(here, "make_jpeg_seeds.cpp"), "-ljpeg"], check=True)
        subprocess.run([tool, os.path.join(ROOT, "jpeg")], check=True)


if __name__ == "__main__":
    main()
