#!/usr/bin/env python3
"""Indicators side by side with TA-Lib (driven by `bench/indicators/run`): our columnar
functions, timed by `examples/column_timings.rs`, and TA-Lib 0.8.2 (its C library through the
Python package), on the same series, interleaved, printed as a markdown table.

    bench_vs_talib.py OUR_TIMING_BINARY [BARS, default 1000000] [REPETITIONS, default 15]

The binary writes the series (open, high, low, close, volume as little-endian f64) that
TA-Lib then reads, so both sides compute on the same bits. For each indicator, calls
alternate in rounds of 3 between our binary and TA-Lib until each side has REPETITIONS
timed calls (after one untimed call each): on a shared, loaded machine both sides then see
the same load. Figures are medians; TA-Lib's include allocating its numpy outputs, ours our
output vectors. A ratio (ours / TA-Lib) below 1.0 means we are faster.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import talib

# Periods as in `examples/column_timings.rs`; every parameter is passed explicitly because
# TA-Lib 0.8 changed some defaults.
CASES = {
    "SMA(20)": lambda o, h, l, c, v: talib.SMA(c, timeperiod=20),
    "EMA(20)": lambda o, h, l, c, v: talib.EMA(c, timeperiod=20),
    "WMA(20)": lambda o, h, l, c, v: talib.WMA(c, timeperiod=20),
    "RSI(14)": lambda o, h, l, c, v: talib.RSI(c, timeperiod=14),
    "MACD(12,26,9)": lambda o, h, l, c, v: talib.MACD(
        c, fastperiod=12, slowperiod=26, signalperiod=9
    ),
    "BBANDS(20,2)": lambda o, h, l, c, v: talib.BBANDS(
        c, timeperiod=20, nbdevup=2, nbdevdn=2, matype=0
    ),
    "STOCH(14,3,3)": lambda o, h, l, c, v: talib.STOCH(
        h, l, c, fastk_period=14, slowk_period=3, slowk_matype=0, slowd_period=3, slowd_matype=0
    ),
    "ATR(14)": lambda o, h, l, c, v: talib.ATR(h, l, c, timeperiod=14),
    "ADX(14)": lambda o, h, l, c, v: talib.ADX(h, l, c, timeperiod=14),
    "CCI(14)": lambda o, h, l, c, v: talib.CCI(h, l, c, timeperiod=14),
    "MFI(14)": lambda o, h, l, c, v: talib.MFI(h, l, c, v, timeperiod=14),
    "OBV": lambda o, h, l, c, v: talib.OBV(c, v),
    "WILLR(14)": lambda o, h, l, c, v: talib.WILLR(h, l, c, timeperiod=14),
    "ROC(10)": lambda o, h, l, c, v: talib.ROC(c, timeperiod=10),
    # TA-Lib has no Taiwan KD; its STOCH over the same 9 bars is the nearest work (a rolling
    # highest/lowest and two smoothings), so the ratio is against that.
    "KD(9,3,3)": lambda o, h, l, c, v: talib.STOCH(
        h, l, c, fastk_period=9, slowk_period=3, slowk_matype=0, slowd_period=3, slowd_matype=0
    ),
}


ROUND = 3


def talib_times(f, count):
    times = []
    for _ in range(count):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return times


def main():
    binary = sys.argv[1]
    bars = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    with tempfile.TemporaryDirectory() as tmp:
        series = os.path.join(tmp, "series.f64")
        ours = subprocess.Popen(
            [binary, str(bars), series], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        names = ours.stdout.readline().split()
        columns = np.fromfile(series, dtype="<f8").reshape(5, -1)
    o, h, l, c, v = (np.ascontiguousarray(x) for x in columns)

    faults = {}

    def our_times(name, count):
        ours.stdin.write(f"{name} {count}\n")
        ours.stdin.flush()
        *times, f = ours.stdout.readline().split()
        faults[name] = faults.get(name, 0) + int(f)
        return [float(t) for t in times]

    print(f"{len(c):,} bars; median of {reps} calls per side, interleaved in rounds of {ROUND};")
    print("fresh output arrays on both sides\n")
    print("| indicator | ours ms | TA-Lib ms | ratio | our page faults per call |")
    print("|---|---:|---:|---:|---:|")
    worst = 0.0
    for name, call in CASES.items():
        theirs_call = lambda: call(o, h, l, c, v)  # noqa: E731
        theirs_call()
        mine, theirs = [], []
        while len(mine) < reps:
            count = min(ROUND, reps - len(mine))
            mine += our_times(name, count) if name in names else []
            theirs += talib_times(theirs_call, count)
            if name not in names:
                break
        theirs_ms = statistics.median(theirs)
        if not mine:
            print(f"| {name} | – | {theirs_ms:.2f} | – | – |")
            continue
        mine_ms = statistics.median(mine)
        ratio = mine_ms / theirs_ms
        worst = max(worst, ratio)
        label = f"{name} (vs STOCH(9,3,3))" if name.startswith("KD") else name
        per_call = faults.get(name, 0) / len(mine)
        print(f"| {label} | {mine_ms:.2f} | {theirs_ms:.2f} | {ratio:.2f} | {per_call:,.0f} |",
              flush=True)
    ours.stdin.close()
    ours.wait()
    print(f"\nworst ratio: {worst:.2f} (goal: every ratio <= 1.00)")


if __name__ == "__main__":
    main()
