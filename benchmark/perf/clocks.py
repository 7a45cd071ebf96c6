"""Honest clocks on a device: synchronised reads, the matmul rate of the decoder's shapes, host syncs."""
from __future__ import annotations

import os
import statistics
import time
import warnings

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device) -> float:
    """perf_counter after the device has finished its queued work."""
    synchronize(device)
    return time.perf_counter()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def matmul_rate(batch: int, hidden: int, n_items: int, device: torch.device, repeats: int = 5) -> float:
    """Flop/s of the decoder's three products at the training batch size (median of repeats)."""
    h, w = torch.randn(batch, hidden, device=device), torch.randn(n_items, hidden, device=device)
    g = torch.randn(batch, n_items, device=device)
    flops = 3 * 2 * batch * hidden * n_items
    timings = []
    for _ in range(repeats + 1):
        tick = clock(device)
        h @ w.T       # forward logits (B, N)
        g @ w         # input gradient (B, 600)
        g.T @ h       # weight gradient (N, 600)
        timings.append(clock(device) - tick)
    return flops / max(statistics.median(timings[1:]), 1e-12)


def host_syncs(run, device: torch.device) -> int | str:
    """How many times `run()` makes the host wait for the device, counted by torch's CUDA sync
    debug mode (each synchronising call warns once); "-" off CUDA, where there is no queue to wait for."""
    if device.type != "cuda":
        return "-"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message).lower() for w in caught)
