#!/usr/bin/env python3
"""Times TA-Lib's batch functions on the same 1M-bar random walk as benches/indicators.rs,
and prints the ratio of our time to TA-Lib's for each indicator.

    cargo bench -p experiment-indicators --bench indicators -- "batch 1M"
    /tmp/talib/bin/python experiment-indicators/scripts/bench_vs_talib.py [CRITERION_DIR]

(`pip install TA-Lib==0.8.2 numpy` into /tmp/talib first.) CRITERION_DIR is the criterion
output of the cargo bench just run (default: $CARGO_TARGET_DIR/criterion, else
target/criterion). TA-Lib's figure is the median of 20 calls from Python (numpy arrays in,
numpy arrays out, allocation included); ours are criterion's medians, for fresh output
columns and for columns kept across calls. A ratio below 1.0 means we are faster.
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import talib


def walk(n):
    state = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1

    def nxt():
        nonlocal state
        state ^= (state << 13) & mask
        state ^= state >> 7
        state ^= (state << 17) & mask
        return (state >> 11) / float(1 << 53)

    o, h, l, c, v = (np.empty(n) for _ in range(5))
    close = 100.0
    for i in range(n):
        open_ = close
        close = max(close * (1.0 + (nxt() - 0.5) * 0.02), 1.0)
        o[i] = open_
        h[i] = max(open_, close) * (1.0 + nxt() * 0.005)
        l[i] = min(open_, close) * (1.0 - nxt() * 0.005)
        c[i] = close
        v[i] = float(int(nxt() * 1e6))
    return o, h, l, c, v


def main():
    o, h, l, c, v = walk(1_000_000)
    cases = {
        "sma(20)": lambda: talib.SMA(c, 20),
        "ema(20)": lambda: talib.EMA(c, 20),
        "rsi(14)": lambda: talib.RSI(c, 14),
        "macd(12,26,9)": lambda: talib.MACD(c, 12, 26, 9),
        "bbands(20,2)": lambda: talib.BBANDS(c, 20, 2, 2, 0),
        "atr(14)": lambda: talib.ATR(h, l, c, 14),
    }
    default = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
    criterion = sys.argv[1] if len(sys.argv) > 1 else default

    def ours(group, name):
        path = os.path.join(criterion, group, name, "new", "estimates.json")
        try:
            with open(path) as f:
                return json.load(f)["median"]["point_estimate"] / 1e6
        except OSError:
            return None

    print(f"{'indicator':<15} {'TA-Lib ms':>9} {'ours ms':>8} {'ratio':>6} {'kept ms':>8} {'ratio':>6}")
    for name, f in cases.items():
        f()  # warm up
        times = []
        for _ in range(20):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        talib_ms = statistics.median(times) * 1000
        row = f"{name:<15} {talib_ms:>9.2f}"
        for group in ("batch 1M bars", "batch 1M bars into kept columns"):
            ms = ours(group, name)
            row += f" {ms:>8.2f} {ms / talib_ms:>6.2f}" if ms else f" {'-':>8} {'-':>6}"
        print(row)


if __name__ == "__main__":
    main()
