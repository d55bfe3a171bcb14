#!/usr/bin/env python3
"""Times TA-Lib's batch functions on the same 1M-bar random walk as benches/indicators.rs.

    /tmp/talib/bin/python experiment-indicators/scripts/bench_vs_talib.py

Prints median milliseconds per call over 10 runs; compare with `cargo bench -p
experiment-indicators -- "batch 1M"` run in the same session.
"""
import statistics
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
    for name, f in cases.items():
        times = []
        for _ in range(10):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        print(f"talib batch 1M {name}: {statistics.median(times) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
