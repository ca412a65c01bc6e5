#!/usr/bin/env python3
"""Seconds per DARTS search step of the PyTorch reference (scripts/torch_darts.py), timed as
../shared/reference/performance.md section 7 says: synthetic CIFAR-10-shaped batches already on
the device, warm-up steps discarded, windows of consecutive steps synchronised at both ends, the
median over the windows (with min and max). Eager, and torch.compile of the network where it works.

  bench/pytorch_reference.py --device cuda --orders 1,2 --batch 64 --json out.json
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import torch_darts  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(args, device, order, mode):
    torch.manual_seed(2)
    model = torch_darts.SearchNetwork(args.init_channels, 10, args.layers).to(device)
    model.train()
    w_opt = torch_darts.weight_optimizer(model)
    architect = torch_darts.Architect(model)
    if mode == "compile":
        model.compile()  # in place: model(x) in the architect and the weight step is compiled
    gen = torch.Generator(device="cpu").manual_seed(0)

    def batch():
        x = torch.randn(args.batch, 3, 32, 32, generator=gen).to(device)
        y = torch.randint(0, 10, (args.batch,), generator=gen).to(device)
        return x, y

    batches = [batch() + batch() for _ in range(4)]
    eta = 0.025
    step = 0

    def run(n):
        nonlocal step
        for _ in range(n):
            x_t, y_t, x_v, y_v = batches[step % len(batches)]
            loss = torch_darts.search_step(model, architect, w_opt, x_t, y_t, x_v, y_v, eta, order)
            step += 1
        return loss

    t0 = time.perf_counter()
    loss = run(args.warmup)
    sync(device)
    warmup_s = time.perf_counter() - t0
    windows = []
    for _ in range(args.windows):
        sync(device)
        t0 = time.perf_counter()
        loss = run(args.steps)
        sync(device)
        windows.append((time.perf_counter() - t0) / args.steps)
    if not torch.isfinite(loss):
        raise RuntimeError(f"order {order} {mode}: the loss is not finite")
    return {
        "order": order, "mode": mode, "seconds_per_step": statistics.median(windows),
        "min": min(windows), "max": max(windows), "windows": args.windows,
        "steps_per_window": args.steps, "warmup_steps": args.warmup, "warmup_seconds": warmup_s,
        "weights": torch_darts.count_weights(model), "final_loss": float(loss.detach()),
        "peak_device_bytes": (torch.cuda.max_memory_allocated(device)
                              if device.type == "cuda" else None),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--order", type=int, choices=[1, 2], help="one order (default: --orders)")
    ap.add_argument("--orders", default="1,2", help="comma-separated orders to time")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--init-channels", type=int, default=16)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20, help="steps per timed window")
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true", help="eager only")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("pytorch_reference: --device cuda but torch sees no GPU")
    device = torch.device(args.device)
    orders = [args.order] if args.order else [int(o) for o in args.orders.split(",")]
    info = {"torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                            else "cpu"),
            "batch": args.batch, "init_channels": args.init_channels, "layers": args.layers}
    results = []

    def save():
        if args.json:
            tmp = args.json + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"info": info, "results": results}, f, indent=1)
            os.replace(tmp, args.json)

    save()
    for mode in ["eager"] + ([] if args.no_compile else ["compile"]):  # every eager result first
        for order in orders:
            try:
                r = time_steps(args, device, order, mode)
            except Exception as e:  # torch.compile may not work on every setup: say so, go on
                if mode == "eager":
                    raise
                print(f"order {order} {mode}: failed: {type(e).__name__}: {e}".splitlines()[0])
                continue
            results.append(r)
            print(f"order {order} {mode:7s} {1e3 * r['seconds_per_step']:9.2f} ms/step "
                  f"(min {1e3 * r['min']:.2f}, max {1e3 * r['max']:.2f}; "
                  f"{r['weights']:,} weights)", flush=True)
            save()


if __name__ == "__main__":
    main()
