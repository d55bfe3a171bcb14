#!/usr/bin/env python3
"""Regenerates the TA-Lib golden files the indicator tests compare against.

    python3 -m venv /tmp/talib && /tmp/talib/bin/pip install 'TA-Lib==0.8.2' 'numpy<3'
    /tmp/talib/bin/python experiment-indicators/scripts/talib_goldens.py

The input is a deterministic random walk (seeded), so the goldens change only when this script
does. TA-Lib is pinned: 0.8 changed some defaults (e.g. BBANDS), so every call passes its
parameters explicitly. NaN (TA-Lib's warm-up) is written as null.
"""
import json
import math
import os
import random

import numpy as np
import talib

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "golden")


def series(n=600, seed=20261124):
    rng = random.Random(seed)
    close, rows = 100.0, []
    for _ in range(n):
        open_ = close * (1 + rng.gauss(0, 0.004))
        close = max(1.0, open_ * (1 + rng.gauss(0, 0.015)))
        high = max(open_, close) * (1 + abs(rng.gauss(0, 0.006)))
        low = min(open_, close) * (1 - abs(rng.gauss(0, 0.006)))
        # a few flat bars (high == low) exercise the division-by-zero branches
        if rng.random() < 0.02:
            high = low = open_ = close
        volume = float(rng.randint(1_000, 5_000_000))
        rows.append([round(open_, 4), round(high, 4), round(low, 4), round(close, 4), volume])
    return rows


def clean(a):
    return [None if (x is None or math.isnan(x)) else float(x) for x in a]


def main():
    rows = series()
    o, h, l, c, v = (np.array([r[i] for r in rows], dtype=float) for i in range(5))
    goldens = {
        "sma_20": talib.SMA(c, timeperiod=20),
        "ema_20": talib.EMA(c, timeperiod=20),
        "wma_20": talib.WMA(c, timeperiod=20),
        "dema_20": talib.DEMA(c, timeperiod=20),
        "tema_20": talib.TEMA(c, timeperiod=20),
        "rsi_14": talib.RSI(c, timeperiod=14),
        "roc_10": talib.ROC(c, timeperiod=10),
        "mom_10": talib.MOM(c, timeperiod=10),
        "stddev_20": talib.STDDEV(c, timeperiod=20, nbdev=1),
        "max_20": talib.MAX(c, timeperiod=20),
        "min_20": talib.MIN(c, timeperiod=20),
        "atr_14": talib.ATR(h, l, c, timeperiod=14),
        "obv": talib.OBV(c, v),
        "cci_20": talib.CCI(h, l, c, timeperiod=20),
        "willr_14": talib.WILLR(h, l, c, timeperiod=14),
        "mfi_14": talib.MFI(h, l, c, v, timeperiod=14),
        "plus_di_14": talib.PLUS_DI(h, l, c, timeperiod=14),
        "minus_di_14": talib.MINUS_DI(h, l, c, timeperiod=14),
        "adx_14": talib.ADX(h, l, c, timeperiod=14),
    }
    macd, signal, hist = talib.MACD(c, fastperiod=12, slowperiod=26, signalperiod=9)
    goldens.update({"macd_12_26_9.macd": macd, "macd_12_26_9.signal": signal, "macd_12_26_9.histogram": hist})
    up, mid, lo = talib.BBANDS(c, timeperiod=20, nbdevup=2, nbdevdn=2, matype=0)
    goldens.update({"bbands_20_2.upper": up, "bbands_20_2.middle": mid, "bbands_20_2.lower": lo})
    k, d = talib.STOCH(h, l, c, fastk_period=14, slowk_period=3, slowk_matype=0, slowd_period=3, slowd_matype=0)
    goldens.update({"stoch_14_3_3.k": k, "stoch_14_3_3.d": d})
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "input.json"), "w") as f:
        json.dump({"talib": talib.__version__, "columns": ["open", "high", "low", "close", "volume"], "rows": rows}, f)
    with open(os.path.join(OUT, "talib.json"), "w") as f:
        json.dump({"talib": talib.__version__, "series": {k: clean(v) for k, v in goldens.items()}}, f)
    print(f"wrote {len(goldens)} series over {len(rows)} bars with TA-Lib {talib.__version__}")


if __name__ == "__main__":
    main()
