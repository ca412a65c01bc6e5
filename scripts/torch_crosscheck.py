#!/usr/bin/env python3
"""Cross-check cudarts' DARTS networks against PyTorch: evaluation losses and search gradients.

The PyTorch model below (its building blocks from scripts/torch_darts.py) is written from the semantics in reference/darts.md (sections 1, 2.5 and 6):
its module tree gives state_dict keys identical to the reference's (stem.0.weight,
cells.0._ops.0.op.5.weight, auxiliary_head.features.2.weight, classifier.weight, ...).

Direction 1 (PyTorch -> cudarts): build NetworkCIFAR(C=16, 8 layers, DARTS_V2, auxiliary) with
randomised BN statistics and affine parameters, save its state_dict as safetensors (with and without
num_batches_tracked), write a random CIFAR-10-format test set, and compare PyTorch's mean
cross-entropy with `cudarts test`.
Direction 2 (cudarts -> PyTorch): `cudarts train` a small network for one epoch, load
checkpoint.safetensors into the PyTorch model and compare the test losses.
Direction 3 (training): the search network of scripts/torch_darts.py (C=8, 5 layers, 4 nodes,
the 8 primitives) with random weights, BN statistics and alphas, and two random batches. PyTorch
computes, in training mode, what a first-order search step computes before its updates: the
architect's dL_val/dalpha on the validation batch, then the training loss and its weight
gradients; the test tool cudarts_search_grads (tests/tools/search_grads.cpp) does the same from
the same tensors. Compared over 3 draws: both losses, the weight gradients (relative L2 over all
weights together), the alpha gradients and the BN running statistics after the two forwards
(the limits and why: above direction3).
Direction 4 (recurrent, PyTorch -> cudarts): the recurrent evaluation model of scripts/torch_rnn.py
(reference/darts.md section 7; DARTS_V2, nhid = emsize 16) with random weights, saved as
safetensors under the reference's names (encoder.weight and decoder.weight, then decoder.weight
alone), on a small grammar-like PTB-format corpus written here; PyTorch's evaluation (batch 1,
bptt 35; the valid split at batch 10) against `cudarts test --task rnn`.
Direction 5 (recurrent, cudarts -> PyTorch): `cudarts train --task rnn` DARTS_V1 for one epoch,
its checkpoint's reference-named tensors loaded into the PyTorch model (train.weights and the
like dropped), PyTorch's test loss against the test_loss= it printed; then the same weights with
the cell scaled up, through `cudarts test --task rnn`. Losses agree to 1e-5 relative.

Only PyTorch is needed (safetensors is read and written here). Exit status 0 when every check
passes, 1 otherwise, 77 when PyTorch is absent (a CTest skip).
Usage: python3 scripts/torch_crosscheck.py --cudarts build/cudarts
"""
import argparse
import ast
import ctypes
import json
import math
import os
import random
import re
import shlex
import struct
import subprocess
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")  # not needed here
try:
    import torch  # noqa: E402
except ImportError:
    # Debian's python3-torch lives in /usr/bin/python3's path; another python3 (pyenv, a venv)
    # found first on PATH may lack it. Try that interpreter once, then report a skip (exit 77).
    system = "/usr/bin/python3"
    if (os.access(system, os.X_OK) and not os.environ.get("CUDARTS_TORCH_REEXEC") and
            os.path.realpath(sys.executable) != os.path.realpath(system)):
        os.environ["CUDARTS_TORCH_REEXEC"] = "1"
        os.execv(system, [system, os.path.abspath(__file__)] + sys.argv[1:])
    print("torch_crosscheck: PyTorch is not installed (Debian: apt-get install python3-torch); "
          "skipped")
    sys.exit(77)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import torch_darts  # noqa: E402  (the building blocks, shared with the search network)
import torch_rnn  # noqa: E402  (the recurrent evaluation model, directions 4 and 5)
from torch_darts import FactorizedReduce, ReLUConvBN  # noqa: E402

CIFAR_MEAN = [0.49139968, 0.48215827, 0.44653124]
CIFAR_STD = [0.24703233, 0.24348505, 0.26158768]

def genotype_text(g):
    return "Genotype(normal=%r, normal_concat=%r, reduce=%r, reduce_concat=%r)" % (
        g["normal"], g["normal_concat"], g["reduce"], g["reduce_concat"])


# ----------------------------------------------------------------------------- the model
def conv(c_in, c_out, k, stride=1, pad=0, dil=1, groups=1):
    return nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, dilation=dil, groups=groups,
                     bias=False)


def make_op(name, c, stride):
    if name == "none":
        raise ValueError("unsupported op in an evaluation genotype: none")
    return torch_darts.make_op(name, c, stride, affine=True)


class Cell(nn.Module):
    def __init__(self, genotype, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        self.preprocess0 = (FactorizedReduce(c_pp, c, True) if reduction_prev
                            else ReLUConvBN(c_pp, c, True))
        self.preprocess1 = ReLUConvBN(c_p, c, True)
        genes = genotype["reduce" if reduction else "normal"]
        self.concat = genotype["reduce_concat" if reduction else "normal_concat"]
        self.multiplier = len(self.concat)
        self.indices = [j for _, j in genes]
        self._ops = nn.ModuleList(
            [make_op(name, c, 2 if reduction and j < 2 else 1) for name, j in genes])

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(len(self._ops) // 2):
            a, b = 2 * i, 2 * i + 1
            states.append(self._ops[a](states[self.indices[a]]) +
                          self._ops[b](states[self.indices[b]]))
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
    def __init__(self, c, classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            conv(c, 128, 1), nn.BatchNorm2d(128), nn.ReLU(),
            conv(128, 768, 2), nn.BatchNorm2d(768), nn.ReLU())
        self.classifier = nn.Linear(768, classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class NetworkCIFAR(nn.Module):
    def __init__(self, c, classes, layers, auxiliary, genotype):
        super().__init__()
        self._layers = layers
        self._auxiliary = auxiliary
        self.stem = nn.Sequential(conv(3, 3 * c, 3, pad=1), nn.BatchNorm2d(3 * c))
        c_pp, c_p, c_curr = 3 * c, 3 * c, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        c_aux = 0
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = Cell(genotype, c_pp, c_p, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_curr
            if i == 2 * layers // 3:
                c_aux = c_p
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadCIFAR(c_aux, classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, classes)

    def forward(self, x):
        logits_aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if i == 2 * self._layers // 3 and self._auxiliary and self.training:
                logits_aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), logits_aux


# ----------------------------------------------------------------------------- safetensors
_DTYPES = {torch.float32: "F32", torch.int64: "I64", torch.int32: "I32"}
_TORCH = {"F32": torch.float32, "I64": torch.int64, "I32": torch.int32}


def save_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous().clone()  # own storage, offset 0
        raw = ctypes.string_at(t.data_ptr(), t.numel() * t.element_size())
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        buf = bytearray(data[8 + n + b:8 + n + end])
        out[name] = torch.frombuffer(buf, dtype=_TORCH[e["dtype"]]).reshape(e["shape"]).clone()
    return out, meta


# ----------------------------------------------------------------------------- data
def write_cifar_batch(path, images, labels):
    """images: uint8 (n, 3, 32, 32); record = label byte + R, G, B planes."""
    n = images.shape[0]
    rec = torch.cat([labels.to(torch.uint8).reshape(n, 1), images.reshape(n, 3072)], dim=1)
    with open(path, "wb") as f:
        f.write(ctypes.string_at(rec.contiguous().data_ptr(), rec.numel()))


def random_images(n, gen):
    return (torch.randint(0, 256, (n, 3, 32, 32), generator=gen, dtype=torch.int64).to(torch.uint8),
            torch.randint(0, 10, (n,), generator=gen))


def to_input(images):  # ToTensor + Normalize
    x = images.float() / 255.0
    return (x - torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR_STD).view(1, 3, 1, 1)


@torch.no_grad()
def torch_eval(model, images, labels, batch=96):
    model.eval()
    loss_sum, correct = 0.0, 0
    for b in range(0, images.shape[0], batch):
        logits, _ = model(to_input(images[b:b + batch]))
        y = labels[b:b + batch]
        loss_sum += F.cross_entropy(logits, y).item() * y.shape[0]
        correct += (logits.argmax(1) == y).sum().item()
    return loss_sum / images.shape[0], correct / images.shape[0]


# ----------------------------------------------------------------------------- helpers
def run_cudarts(exe, args):
    cmd = [exe] + args
    print("$ " + shlex.join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout + p.stderr)
        raise RuntimeError("%s exited with %d" % (os.path.basename(exe), p.returncode))
    return p.stdout


def parse_test(out):
    loss = re.search(r"^test_loss=([-+0-9.eE]+|nan|inf)$", out, re.M)
    acc = re.search(r"^test_acc=([-+0-9.eE]+|nan|inf)$", out, re.M)
    if not loss or not acc:
        raise RuntimeError("no test_loss=/test_acc= lines in cudarts output:\n" + out)
    return float(loss.group(1)), float(acc.group(1))


def parse_genotype(text):
    """A DARTS-form genotype string (as cudarts writes it into checkpoint metadata)."""
    call = ast.parse(text.strip(), mode="eval").body
    g = {}
    for kw in call.keywords:
        v = kw.value
        if isinstance(v, ast.Call) and getattr(v.func, "id", "") == "range":
            g[kw.arg] = list(range(*[ast.literal_eval(a) for a in v.args]))
        else:
            g[kw.arg] = [tuple(x) if isinstance(x, (list, tuple)) else x
                         for x in ast.literal_eval(v)]
    return g


# The genotypes as the reference writes them (genotypes.py's DARTS_V2), and every evaluation op,
# stride 1 and 2, with a concat in a non-sorted order (not a published cell).
DARTS_V2 = parse_genotype(
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
ALL_OPS = parse_genotype(
    "Genotype(normal=[('sep_conv_5x5', 0), ('dil_conv_5x5', 1), ('avg_pool_3x3', 0), "
    "('max_pool_3x3', 2), ('dil_conv_3x3', 1), ('skip_connect', 3), ('sep_conv_3x3', 4), "
    "('avg_pool_3x3', 2)], normal_concat=[5, 2, 4, 3], reduce=[('sep_conv_5x5', 0), "
    "('dil_conv_5x5', 1), ('avg_pool_3x3', 0), ('sep_conv_3x3', 1), ('dil_conv_3x3', 0), "
    "('skip_connect', 1), ('max_pool_3x3', 0), ('avg_pool_3x3', 4)], reduce_concat=[2, 3, 4, 5])")


def agree(a, b, digits=4):
    return abs(a - b) <= 0.5 * 10 ** (1 - digits) * max(abs(a), abs(b), 1e-12)


class Report:
    def __init__(self):
        self.rows = []  # (what, ok, summary line detail)

    def check(self, what, torch_loss, cudarts_loss, torch_acc, cudarts_acc, n):
        """An evaluation: losses to 4 significant digits, accuracy to 1 image."""
        ok = agree(torch_loss, cudarts_loss) and abs(torch_acc - cudarts_acc) * n <= 1.0 + 1e-9
        rel = abs(torch_loss - cudarts_loss) / max(abs(torch_loss), abs(cudarts_loss), 1e-12)
        self.rows.append((what, ok, "rel. loss diff %.2e (limit 5e-4, accuracy 1 image)" % rel))
        print("  %-50s loss torch %.6f cudarts %.6f | acc torch %.4f cudarts %.4f  %s" %
              (what, torch_loss, cudarts_loss, torch_acc, cudarts_acc, "PASS" if ok else "FAIL"))
        return ok

    def check_rel(self, what, err, limit):
        """A relative error against its limit."""
        ok = err <= limit  # a NaN fails
        self.rows.append((what, ok, "rel. error %.2e (limit %.0e)" % (err, limit)))
        print("  %-50s rel. error %.2e (limit %.0e)  %s" % (what, err, limit,
                                                          "PASS" if ok else "FAIL"))
        return ok

    def fail(self, what, why):
        self.rows.append((what, False, why))
        print("  %-50s FAIL: %s" % (what, why))
        return False

    def summary(self):
        print("\n== Summary")
        for what, ok, detail in self.rows:
            print("  %-4s %-50s %s" % ("PASS" if ok else "FAIL", what, detail))
        ok = all(r[1] for r in self.rows) and bool(self.rows)
        print("RESULT: " + ("PASS" if ok else "FAIL"))
        return ok


def randomise_bn(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                if m.affine:
                    m.weight.copy_(0.75 + 0.5 * torch.rand(c, generator=gen))
                    m.bias.copy_(0.1 * torch.randn(c, generator=gen))
                m.num_batches_tracked.fill_(7)


# ----------------------------------------------------------------------------- directions
def direction1(exe, data, work, n, report, gname, genotype, both_variants):
    print("\n== Direction 1: PyTorch -> cudarts (NetworkCIFAR C=16, 8 layers, %s, auxiliary)"
          % gname)
    torch.manual_seed(0)
    model = NetworkCIFAR(16, 10, 8, True, genotype)
    randomise_bn(model, torch.Generator().manual_seed(1))
    sd = model.state_dict()
    print("  state_dict: %d entries, %d parameters (%d without auxiliary)" % (
        len(sd), sum(p.numel() for p in model.parameters()),
        sum(p.numel() for k, p in model.named_parameters() if "auxiliary" not in k)))
    images, labels = load_cifar_batch(os.path.join(data, "test_batch.bin"))
    # Random weights give near-zero logits (loss ~ ln 10 whatever the body computes): scale the
    # classifier so the logits have a standard deviation of about 3 and the loss depends on them.
    with torch.no_grad():
        model.eval()
        std = model(to_input(images[:50]))[0].std().item()
        model.classifier.weight.mul_(3.0 / max(std, 1e-6))
    t_loss, t_acc = torch_eval(model, images, labels)
    # Sensitivity: a 1% change of one BN running mean deep inside must move the loss visibly.
    probe = [k for k in model.state_dict() if k.startswith("cells.") and
             k.endswith("running_mean")][-1]
    saved = model.state_dict()[probe].clone()
    with torch.no_grad():
        model.state_dict()[probe].add_(0.01 * (saved.abs() + 0.1))
    p_loss, _ = torch_eval(model, images, labels)
    with torch.no_grad():
        model.state_dict()[probe].copy_(saved)
    print("  torch: loss %.6f acc %.4f; with %s nudged: loss %.6f (%s)" % (
        t_loss, t_acc, probe, p_loss,
        "the check is sensitive" if not agree(t_loss, p_loss) else "WARNING: insensitive"))
    sd = model.state_dict()
    variants = {
        "with num_batches_tracked (I64)": sd,
        "without num_batches_tracked": {k: v for k, v in sd.items()
                                        if not k.endswith("num_batches_tracked")},
    }
    if not both_variants:
        variants.pop("with num_batches_tracked (I64)")
    gtext = gname if gname.startswith("DARTS_") else genotype_text(genotype)
    ok = True
    for i, (what, tensors) in enumerate(variants.items()):
        path = os.path.join(work, "torch_%s_%d.safetensors" % (gname, i))
        save_safetensors(path, tensors)
        out = run_cudarts(exe, ["test", "--checkpoint", path, "--dataset", "cifar10", "--data",
                                data, "--genotype", gtext, "--init-channels", "16",
                                "--layers", "8", "--auxiliary", "--device", "cpu"])
        c_loss, c_acc = parse_test(out)
        ok &= report.check("%s, state_dict %s" % (gname, what), t_loss, c_loss, t_acc, c_acc, n)
    return ok


def direction2(exe, data, work, n, report):
    print("\n== Direction 2: cudarts -> PyTorch (cudarts train C=8, 5 layers, 1 epoch)")
    out_dir = os.path.join(work, "train-out")
    run_cudarts(exe, ["train", "--dataset", "cifar10", "--data", data, "--subset", str(n),
                      "--init-channels", "8", "--layers", "5", "--epochs", "1", "--batch-size",
                      "50", "--auxiliary=false", "--device", "cpu", "--out", out_dir])
    ckpt = os.path.join(out_dir, "checkpoint.safetensors")
    tensors, meta = load_safetensors(ckpt)
    opts = json.loads(meta.get("options", "{}"))
    genotype = parse_genotype(opts["genotype"]) if "genotype" in opts else DARTS_V2
    c, layers = opts.get("init_channels", 8), opts.get("layers", 5)
    aux = opts.get("auxiliary", False)
    model = NetworkCIFAR(c, 10, layers, aux, genotype)
    keys = set(model.state_dict())
    needed = {k for k in keys if not k.endswith("num_batches_tracked")}
    missing = sorted(needed - set(tensors))
    extra = sorted(set(tensors) - keys)
    print("  checkpoint: %d entries; model needs %d; extra (dropped): %d, e.g. %s" % (
        len(tensors), len(needed), len(extra), ", ".join(extra[:3])))
    if missing:
        print("  FAIL: checkpoint lacks %d model keys, e.g. %s" % (len(missing), missing[:5]))
        return False
    result = model.load_state_dict({k: v for k, v in tensors.items() if k in keys}, strict=False)
    assert not result.unexpected_keys and all(
        k.endswith("num_batches_tracked") for k in result.missing_keys)
    images, labels = load_cifar_batch(os.path.join(data, "test_batch.bin"))
    t_loss, t_acc = torch_eval(model, images, labels)
    c_loss, c_acc = parse_test(run_cudarts(exe, ["test", "--checkpoint", ckpt, "--dataset",
                                                 "cifar10", "--data", data, "--device", "cpu"]))
    ok = report.check("cudarts train checkpoint", t_loss, c_loss, t_acc, c_acc, n)
    # One epoch on random labels leaves the logits small (loss near ln 10): repeat with the
    # classifier scaled so that the logits' standard deviation is about 3 (same body, same BN).
    with torch.no_grad():
        std = model(to_input(images[:50]))[0].std().item()
    scale = 3.0 / max(std, 1e-6)
    tensors["classifier.weight"] = tensors["classifier.weight"] * scale
    tensors["classifier.bias"] = tensors["classifier.bias"] * scale
    sharp = os.path.join(work, "checkpoint_sharp.safetensors")
    save_safetensors(sharp, tensors, meta)
    with torch.no_grad():
        model.classifier.weight.mul_(scale)
        model.classifier.bias.mul_(scale)
    t_loss, t_acc = torch_eval(model, images, labels)
    c_loss, c_acc = parse_test(run_cudarts(exe, ["test", "--checkpoint", sharp, "--dataset",
                                                 "cifar10", "--data", data, "--device", "cpu"]))
    ok &= report.check("same, classifier x %.3g" % scale, t_loss, c_loss, t_acc, c_acc, n)
    return ok


# Limits of direction 3. Without branch changes, float32 (sums of up to a few thousand terms,
# training-mode BN whose backward cancels most of each term) leaves relative errors of about 1e-6
# in the losses and gradients. But every draw holds a few ReLU inputs within float32 rounding of
# zero (about 1e-7 of the tensor's largest value in float64), and now and then one falls on the
# other side in one program: that input's gradient is dropped or passed on in one program only,
# and a node state feeds many ReLUs. Measured over 40 draws of this network (seeds 100-139): 5 had
# such a flip in the weight gradients (relative L2 2e-5 to 2e-3, single tensors a few percent), 3
# in the alpha gradients (4e-5 to 1.3e-3: a softmax Jacobian is a difference of nearly equal
# sums), the other draws stayed below 2e-6; nudging the images by 1e-5 relative removed the flips.
# Hence:
#  - the weight gradients are judged all together, by the relative L2 error of their
#    concatenation, never tensor by tensor;
#  - every draw must stay within the loose limit (5x the largest flip seen: a wrong op, a missing
#    or doubled term fails it), and the best of the draws within the tight one (about 100x the
#    flip-free error: a bug shows in every draw, a flip in one; 3 draws all flipping: ~0.1%).
LOSS_LIMIT = 1e-5  # forward only: a flip moves a value by rounding, so one limit for every draw
STATS_LIMIT = 1e-5  # BN running statistics: a momentum update of batch moments, no backward
GRAD_TIGHT, GRAD_LOOSE = 1e-4, 1e-2
SEARCH_CFG = {"init_channels": 8, "layers": 5, "nodes": 4, "classes": 10, "in_channels": 3,
              "stem_multiplier": 3}


def rel_l2(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    return ((a - b).norm() / max(a.norm().item(), b.norm().item(), 1e-300)).item()


def search_draw(tool, work, size, batch, seed):
    """One draw: errors of cudarts_search_grads against PyTorch, or a string saying what failed."""
    cfg = SEARCH_CFG
    torch.manual_seed(seed)
    model = torch_darts.SearchNetwork(cfg["init_channels"], cfg["classes"], cfg["layers"],
                                      cfg["nodes"], cfg["stem_multiplier"])
    gen = torch.Generator().manual_seed(seed + 1000)
    randomise_bn(model, gen)
    with torch.no_grad():  # spread alphas: the softmax weights differ and dL/dalpha is not tiny
        for a in model.arch_parameters():
            a.copy_(torch.randn(a.shape, generator=gen))
    x_t = torch.randn(batch, 3, size, size, generator=gen)
    y_t = torch.randint(0, cfg["classes"], (batch,), generator=gen)
    x_v = torch.randn(batch, 3, size, size, generator=gen)
    y_v = torch.randint(0, cfg["classes"], (batch,), generator=gen)
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    tensors.update(alphas_normal=model.alphas_normal, alphas_reduce=model.alphas_reduce,
                   images=x_t, labels=y_t, val_images=x_v, val_labels=y_v)
    meta = {k: str(v) for k, v in cfg.items()}
    meta["primitives"] = ",".join(torch_darts.PRIMITIVES)
    in_path = os.path.join(work, "search_in_%d.safetensors" % seed)
    out_path = os.path.join(work, "search_grads_%d.safetensors" % seed)
    save_safetensors(in_path, tensors, meta)

    # What one first-order search step computes before its updates, in its order (train_search.py:
    # architect.step on the validation batch, then the weight backward on the training batch).
    model.train()
    val_loss = F.cross_entropy(model(x_v), y_v)
    a_grads = torch.autograd.grad(val_loss, model.arch_parameters())
    names, params = zip(*model.named_parameters())
    loss = F.cross_entropy(model(x_t), y_t)
    w_grads = torch.autograd.grad(loss, params)

    run_cudarts(tool, [in_path, out_path])
    out, _ = load_safetensors(out_path)
    missing = [k for k in list(names) + ["alphas_normal", "alphas_reduce", "loss", "val_loss"]
               if k not in out]
    if missing:
        return "the tool wrote no %s" % ", ".join(missing[:5])
    shapes = [k for k, g in zip(names, w_grads) if out[k].shape != g.shape]
    if shapes:
        return "shapes differ for %s" % ", ".join(shapes[:5])
    sd = model.state_dict()
    stats = [k for k in sd if k.endswith(("running_mean", "running_var"))]
    norms = [g.double().norm().item() for g in w_grads]
    total = math.sqrt(sum(n * n for n in norms))
    per = sorted(((rel_l2(g, out[k]), k) for k, g in zip(names, w_grads)), reverse=True)
    err = {
        "training loss": rel_l2(loss.detach(), out["loss"]),
        "validation loss (architect)": rel_l2(val_loss.detach(), out["val_loss"]),
        "BN running statistics after both forwards": rel_l2(
            torch.cat([sd[k].flatten() for k in stats]),
            torch.cat([out[k].flatten() for k in stats])),
        "weight gradients": rel_l2(torch.cat([g.flatten() for g in w_grads]),
                                   torch.cat([out[k].flatten() for k in names])),
        "d val_loss / d alphas_normal": rel_l2(a_grads[0], out["alphas_normal"]),
        "d val_loss / d alphas_reduce": rel_l2(a_grads[1], out["alphas_reduce"]),
    }
    print("  seed %d: loss %.6f (cudarts %.6f), %d weight tensors, %d weights" % (
        seed, loss.item(), out["loss"].item(), len(params), sum(p.numel() for p in params)))
    print("    " + ", ".join("%s %.1e" % (k, e) for k, e in err.items()))
    print("    largest per-tensor errors (information only): " +
          ", ".join("%s %.1e" % (k, e) for e, k in per[:2]))
    # What the tight limit can see: an error of 10% in one tensor moves the concatenation by
    # 0.1 |g_t| / |g|.
    print("    a 10%% error in any one of %d of the %d weight tensors exceeds the tight limit" % (
        sum(1 for n in norms if 0.1 * n / total > GRAD_TIGHT), len(norms)))
    return err


def direction3(tool, work, report, size, batch, seed, draws):
    print("\n== Direction 3: search network gradients, training mode (C=%d, %d layers, %d nodes, "
          "%d primitives, batch %d of %dx%d, %d draws)" % (
              SEARCH_CFG["init_channels"], SEARCH_CFG["layers"], SEARCH_CFG["nodes"],
              len(torch_darts.PRIMITIVES), batch, size, size, draws))
    errs = []
    for d in range(draws):
        e = search_draw(tool, work, size, batch, seed + d)
        if isinstance(e, str):
            return report.fail("search (seed %d)" % (seed + d), e)
        errs.append(e)
    ok = True
    for what in errs[0]:
        values = [e[what] for e in errs]
        if "gradients" in what or "alphas" in what:
            ok &= report.check_rel("search, %s, worst of %d" % (what, draws), max(values),
                                   GRAD_LOOSE)
            ok &= report.check_rel("search, %s, best of %d" % (what, draws), min(values),
                                   GRAD_TIGHT)
        else:
            limit = STATS_LIMIT if "statistics" in what else LOSS_LIMIT
            ok &= report.check_rel("search, %s, worst of %d" % (what, draws), max(values), limit)
    return ok


# ----------------------------------------------------------------------------- recurrent model
# Directions 4 and 5: the recurrent evaluation model of scripts/torch_rnn.py against `cudarts test
# --task rnn` and `cudarts train --task rnn`. Both sides compute in float32 over a corpus of a few
# thousand tokens; PyTorch also evaluates in float64, the reference value. Measured float32
# differences are about 1e-7 relative, so a wrong gate, predecessor, concat or normalisation
# (rows versus rows - 1 alone moves these losses by 0.3% or more) is far outside the limit.
RNN_LOSS_LIMIT = 1e-5
RNN_WORDS = {
    "det": ["the", "a", "every", "some", "no"],
    "adj": ["red", "small", "old", "quick", "quiet", "bright", "<unk>"],
    "noun": ["cat", "dog", "bird", "man", "woman", "child", "house", "tree", "river", "car",
             "city", "N", "<unk>"],
    "verb": ["sees", "likes", "finds", "makes", "takes", "wants", "hears", "'s"],
    "prep": ["near", "under", "over", "with", "behind"],
    "conj": ["and", "but", "while"],
}
# Words that occur first in valid or only in test: their ids come after train's, in file order.
RNN_LATE = {"valid": ["valley", "lamp"], "test": ["comet", "violin", "lamp"]}


def rnn_sentence(rng, extra):
    def np_():
        words = [rng.choice(RNN_WORDS["det"])]
        if rng.random() < 0.5:
            words.append(rng.choice(RNN_WORDS["adj"]))
        words.append(rng.choice(RNN_WORDS["noun"] + extra))
        return words
    words = np_() + [rng.choice(RNN_WORDS["verb"])] + np_()
    if rng.random() < 0.4:
        words += [rng.choice(RNN_WORDS["prep"])] + np_()
    if rng.random() < 0.25:
        words += [rng.choice(RNN_WORDS["conj"])] + np_() + [rng.choice(RNN_WORDS["verb"])]
    return words


def write_ptb_corpus(folder, seed, lines=(300, 60, 40)):
    """A grammar-like PTB-format corpus; lines written as PTB's are (a leading and a trailing
    space). Returns the folder."""
    rng = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    for split, n in zip(("train", "valid", "test"), lines):
        with open(os.path.join(folder, split + ".txt"), "w", encoding="utf-8") as f:
            for _ in range(n):
                f.write(" " + " ".join(rnn_sentence(rng, RNN_LATE.get(split, []))) + " \n")
    return folder


def parse_rnn_test(out, split="test"):
    """The last <split>_loss= and <split>_ppl= lines of cudarts' stdout (test, or valid for
    `cudarts test --split valid`)."""
    loss = re.findall(r"^%s_loss=([-+0-9.eE]+|nan|inf)$" % split, out, re.M)
    ppl = re.findall(r"^%s_ppl=([-+0-9.eE]+|nan|inf)$" % split, out, re.M)
    if not loss or not ppl:
        raise RuntimeError("no %s_loss=/%s_ppl= lines in cudarts output:\n%s" % (split, split, out))
    return float(loss[-1]), float(ppl[-1])


def rnn_losses(model, tokens, batch, bptt):
    """(float64 loss, float32 loss) of torch_rnn.evaluate; the model is left in float32."""
    loss64 = torch_rnn.evaluate(model.double(), tokens, batch, bptt)
    loss32 = torch_rnn.evaluate(model.float(), tokens, batch, bptt)
    return loss64, loss32


def rnn_check(report, what, torch_losses, cudarts_out, split="test"):
    """cudarts' loss against PyTorch's float64 loss, and its perplexity against exp(loss)."""
    loss64, loss32 = torch_losses
    c_loss, c_ppl = parse_rnn_test(cudarts_out, split)
    rel = abs(c_loss - loss64) / max(abs(loss64), 1e-12)
    print("  %-50s loss torch %.7f (float32 %.7f) cudarts %.6f ppl %.4f" % (
        what, loss64, loss32, c_loss, c_ppl))
    ok = report.check_rel("%s, %s_loss" % (what, split), rel, RNN_LOSS_LIMIT)
    # The perplexity is exp(loss) at %.4f: print rounding alone is up to 5e-5 / ppl relative.
    ppl_rel = abs(c_ppl - math.exp(loss64)) / math.exp(loss64)
    ok &= report.check_rel("%s, %s_ppl" % (what, split), ppl_rel,
                           RNN_LOSS_LIMIT * abs(loss64) + 5e-5 / math.exp(loss64))
    return ok


def direction4(exe, data, work, report, nhid, seed):
    print("\n== Direction 4: PyTorch -> cudarts (recurrent eval model, DARTS_V2, nhid %d)" % nhid)
    vocab, splits = torch_rnn.read_corpus(data)
    torch.manual_seed(seed)
    model = torch_rnn.RNNModel(len(vocab), nhid, nhid, torch_rnn.DARTS_V2)
    # Far larger than the reference's U(+-0.04) init, so that the logits (hence the loss) depend
    # on every part of the cell: with 0.04 the loss stays within a few 1e-4 of ln(V), and with
    # +-0.5 a 1% change of one node's weights moves it by only a few 1e-6 (below the limit).
    with torch.no_grad():
        model.encoder.weight.uniform_(-1.0, 1.0)
        model.rnns[0]._W0.uniform_(-1.0, 1.0)
        for w in model.rnns[0]._Ws:
            w.uniform_(-1.0, 1.0)
        model.decoder.bias.uniform_(-1.0, 1.0)
    sd = model.state_dict()
    print("  vocabulary %d, tokens train/valid/test %d/%d/%d; state_dict: %s" % (
        len(vocab), splits["train"].numel(), splits["valid"].numel(), splits["test"].numel(),
        ", ".join("%s %s" % (k, "x".join(map(str, v.shape))) for k, v in sd.items())))
    test = rnn_losses(model, splits["test"], 1, 35)
    valid = rnn_losses(model, splits["valid"], 10, 35)
    # Sensitivity (float64): 1% on the last node's weights, the same weights read as DARTS_V1,
    # and the loss divided by rows - 1 instead of rows.
    model.double()
    with torch.no_grad():
        w = model.rnns[0]._Ws[7]
        saved = w.clone()
        w.mul_(1.01)
        nudged = torch_rnn.evaluate(model, splits["test"], 1, 35)
        w.copy_(saved)
    v1 = torch_rnn.RNNModel(len(vocab), nhid, nhid, torch_rnn.DARTS_V1).double()
    v1.load_state_dict(model.state_dict())
    as_v1 = torch_rnn.evaluate(v1, splits["test"], 1, 35)
    model.float()
    print("  torch test loss %.6f (ln V = %.4f); relative change with _Ws.7 x 1.01: %.1e, read "
          "as DARTS_V1: %.1e, divided by rows - 1: %.1e" % (
              test[0], math.log(len(vocab)), abs(nudged - test[0]) / test[0],
              abs(as_v1 - test[0]) / test[0], 1.0 / (splits["test"].numel() - 1)))
    ok = True
    variants = {
        "encoder.weight and decoder.weight": sd,
        "decoder.weight only": {k: v for k, v in sd.items() if k != "encoder.weight"},
    }
    for i, (what, tensors) in enumerate(variants.items()):
        path = os.path.join(work, "torch_rnn_%d.safetensors" % i)
        save_safetensors(path, {k: v.float() for k, v in tensors.items()})
        out = run_cudarts(exe, ["test", "--task", "rnn", "--checkpoint", path, "--data", data,
                                "--device", "cpu", "--nhid", str(nhid), "--genotype",
                                "DARTS_V2"])
        ok &= rnn_check(report, "rnn DARTS_V2, %s, test b1" % what, test, out)
        if i == 0:
            out = run_cudarts(exe, ["test", "--task", "rnn", "--checkpoint", path, "--data",
                                    data, "--device", "cpu", "--nhid", str(nhid), "--genotype",
                                    "DARTS_V2", "--split", "valid", "--eval-batch-size", "10"])
            ok &= rnn_check(report, "rnn DARTS_V2, valid b10", valid, out, "valid")
    return ok


def direction5(exe, data, work, report, nhid):
    print("\n== Direction 5: cudarts -> PyTorch (cudarts train --task rnn, DARTS_V1, nhid %d, "
          "1 epoch)" % nhid)
    vocab, splits = torch_rnn.read_corpus(data)
    out_dir = os.path.join(work, "rnn-train")
    out = run_cudarts(exe, ["train", "--task", "rnn", "--data", data, "--device", "cpu",
                            "--nhid", str(nhid), "--batch-size", "4", "--eval-batch-size", "2",
                            "--bptt", "8", "--epochs", "1", "--genotype", "DARTS_V1",
                            "--out", out_dir])
    tensors, meta = load_safetensors(os.path.join(out_dir, "checkpoint.safetensors"))
    model = torch_rnn.RNNModel(len(vocab), nhid, nhid, torch_rnn.DARTS_V1)
    keys = list(model.state_dict())
    missing = [k for k in keys if k not in tensors]
    extra = sorted(set(tensors) - set(keys))
    print("  checkpoint: %d tensors; model needs %d; extra (dropped): %d, e.g. %s" % (
        len(tensors), len(keys), len(extra), ", ".join(extra[:4])))
    if missing:
        return report.fail("rnn cudarts train checkpoint", "lacks %s" % ", ".join(missing[:5]))
    shapes = [k for k in keys if tensors[k].shape != model.state_dict()[k].shape]
    if shapes:
        return report.fail("rnn cudarts train checkpoint", "shapes differ for %s" %
                           ", ".join("%s %s" % (k, list(tensors[k].shape)) for k in shapes))
    if not torch.equal(tensors["encoder.weight"], tensors["decoder.weight"]):
        return report.fail("rnn cudarts train checkpoint",
                           "encoder.weight and decoder.weight differ (they are tied)")
    opts = json.loads(meta.get("options", "{}"))
    gtext = opts.get("genotype") if isinstance(opts.get("genotype"), str) else None
    if gtext and gtext.startswith("Genotype("):
        g = parse_genotype(gtext)
        if [tuple(x) for x in g["recurrent"]] != torch_rnn.DARTS_V1["recurrent"] or \
                list(g["concat"]) != torch_rnn.DARTS_V1["concat"]:
            return report.fail("rnn cudarts train checkpoint",
                               "its genotype is not DARTS_V1: " + gtext)
    result = model.load_state_dict({k: tensors[k] for k in keys})
    assert not result.missing_keys and not result.unexpected_keys
    test = rnn_losses(model, splits["test"], 1, 35)
    print("  torch test loss %.6f (ln V = %.4f)" % (test[0], math.log(len(vocab))))
    ok = rnn_check(report, "rnn cudarts train DARTS_V1, test b1", test, out)
    # One epoch at lr 20 leaves the cell's weights near their U(+-0.04) init and the loss mostly
    # the decoder bias's (the same weights read as DARTS_V2 move it by only ~2e-4). Repeat
    # through `cudarts test` with the cell x 20 and the embedding x 3, the reference's tensors only
    # and no metadata (as a PyTorch user would write them), so that DARTS_V1's nodes show.
    sharp = {k: tensors[k] * (20.0 if k.startswith("rnns.") else 3.0 if k.endswith(".weight")
                              else 1.0) for k in keys}
    path = os.path.join(work, "rnn_checkpoint_sharp.safetensors")
    save_safetensors(path, sharp)
    model.load_state_dict(sharp)
    test = rnn_losses(model, splits["test"], 1, 35)
    v2 = torch_rnn.RNNModel(len(vocab), nhid, nhid, torch_rnn.DARTS_V2)
    v2.load_state_dict(sharp)
    as_v2 = torch_rnn.evaluate(v2.double(), splits["test"], 1, 35)
    print("  sharpened: torch test loss %.6f; read as DARTS_V2: relative change %.1e" % (
        test[0], abs(as_v2 - test[0]) / test[0]))
    out = run_cudarts(exe, ["test", "--task", "rnn", "--checkpoint", path, "--data", data,
                            "--device", "cpu", "--nhid", str(nhid), "--genotype", "DARTS_V1"])
    ok &= rnn_check(report, "rnn same checkpoint, cell x 20, embedding x 3, test b1", test,
                    out)
    return ok


def load_cifar_batch(path):
    raw = torch.frombuffer(bytearray(open(path, "rb").read()), dtype=torch.uint8).reshape(-1, 3073)
    return raw[:, 1:].reshape(-1, 3, 32, 32).clone(), raw[:, 0].long()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cudarts", default="build/cudarts", help="the cudarts executable")
    ap.add_argument("--images", type=int, default=200, help="test (and train) images")
    ap.add_argument("--search-grads", help="the cudarts_search_grads test tool (default: beside "
                    "--cudarts)")
    ap.add_argument("--direction", choices=["1", "2", "3", "4", "5", "all"], default="all",
                    help="1: PyTorch -> cudarts, 2: cudarts -> PyTorch, 3: search gradients, "
                    "4: recurrent PyTorch -> cudarts, 5: recurrent cudarts -> PyTorch")
    ap.add_argument("--search-size", type=int, default=16, help="direction 3: image side")
    ap.add_argument("--search-batch", type=int, default=4, help="direction 3: batch size")
    ap.add_argument("--search-seed", type=int, default=3, help="direction 3: first seed")
    ap.add_argument("--search-draws", type=int, default=3, help="direction 3: draws (seeds)")
    ap.add_argument("--rnn-nhid", type=int, default=16, help="directions 4 and 5: nhid = emsize")
    ap.add_argument("--rnn-seed", type=int, default=5, help="directions 4 and 5: corpus and "
                    "weights seed")
    ap.add_argument("--keep", help="write the data and checkpoints here and keep them")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    exe = os.path.abspath(args.cudarts)
    if not os.access(exe, os.X_OK):
        sys.exit("--cudarts: %s is not an executable (build cudarts first)" % exe)
    tool = os.path.abspath(args.search_grads or
                           os.path.join(os.path.dirname(exe), "cudarts_search_grads"))
    if args.direction in ("3", "all") and not os.access(tool, os.X_OK):
        sys.exit("--search-grads: %s is not an executable (build cudarts_search_grads first)" %
                 tool)
    tmp = None
    if args.keep:
        work = args.keep
        os.makedirs(work, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="cudarts_torch_")
        work = tmp.name
    data = os.path.join(work, "cifar-10-batches-bin")
    os.makedirs(data, exist_ok=True)
    gen = torch.Generator().manual_seed(123)
    n = args.images
    write_cifar_batch(os.path.join(data, "test_batch.bin"), *random_images(n, gen))
    per = (n + 4) // 5
    for i in range(1, 6):
        write_cifar_batch(os.path.join(data, "data_batch_%d.bin" % i), *random_images(per, gen))
    print("torch %s; data: %d random test images and 5 x %d train images in %s" % (
        torch.__version__, n, per, data))
    ptb = write_ptb_corpus(os.path.join(work, "ptb"), args.rnn_seed)
    report = Report()
    try:
        if args.direction in ("1", "all"):
            direction1(exe, data, work, n, report, "DARTS_V2", DARTS_V2, True)
            direction1(exe, data, work, n, report, "ALL_OPS", ALL_OPS, False)
        if args.direction in ("2", "all"):
            direction2(exe, data, work, n, report)
        if args.direction in ("3", "all"):
            direction3(tool, work, report, args.search_size, args.search_batch,
                       args.search_seed, args.search_draws)
        if args.direction in ("4", "all"):
            direction4(exe, ptb, work, report, args.rnn_nhid, args.rnn_seed)
        if args.direction in ("5", "all"):
            direction5(exe, ptb, work, report, args.rnn_nhid)
    finally:
        if tmp is not None:
            tmp.cleanup()
    sys.exit(0 if report.summary() else 1)


if __name__ == "__main__":
    main()
