#!/usr/bin/env python3
"""Regenerates the TA-Lib golden files the indicator tests compare against.

    V=$HOME/.cache/experiment/venv-talib
    python3 -m venv $V && $V/bin/pip install 'TA-Lib==0.8.2' 'numpy<3'
    $V/bin/python experiment-indicators/scripts/talib_goldens.py

(TA-Lib 0.8.2 installs from its manylinux wheel, which bundles the C library.)

The input is a deterministic random walk (seeded), so the goldens change only when this script
does. TA-Lib is pinned: 0.8 changed some defaults (e.g. BBANDS, and APO/PPO now default to an
EMA), so every call passes its parameters explicitly. NaN (TA-Lib's warm-up) is written as null.

The candlestick patterns are also run on a second series built from candle shapes (dojis,
hammers, engulfings, stars, soldiers, crows between ordinary bars), since a random walk forms
few of them; their outputs are integers and must agree exactly.
"""
import json
import math
import os
import random

import numpy as np
import talib
from talib import abstract

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


def candle_series(n=1500, seed=20261125):
    """Bars drawn from candle shapes, so that every pattern tested fires several times."""
    rng = random.Random(seed)
    price, rows = 100.0, []

    def add(o, c, up, down):
        nonlocal price
        rows.append([o, max(o, c) + up, min(o, c) - down, c, float(rng.randint(1_000, 5_000_000))])
        price = c

    while len(rows) < n:
        u = price * 0.01
        kind = rng.choice(["plain"] * 6 + ["doji", "hammer", "engulf", "morning", "evening", "soldiers", "crows"])
        if kind == "plain":
            o = price * (1 + rng.gauss(0, 0.003))
            add(o, o + rng.gauss(0, 1.2) * u, abs(rng.gauss(0, 0.4)) * u, abs(rng.gauss(0, 0.4)) * u)
        elif kind == "doji":
            add(price, price + rng.choice([0.0, 0.02, -0.02]) * u, rng.uniform(0.3, 1.0) * u, rng.uniform(0.3, 1.0) * u)
        elif kind == "hammer":
            for _ in range(3):
                add(price, price - rng.uniform(0.8, 1.5) * u, 0.2 * u, 0.2 * u)
            low = rows[-1][2]
            o = low + rng.uniform(-0.2, 0.1) * u
            add(o, o + rng.uniform(0.05, 0.3) * u, rng.choice([0.0, 0.01]) * u, rng.uniform(1.0, 2.0) * u)
        elif kind == "engulf":
            up = rng.random() < 0.5
            first = rng.uniform(0.5, 1.0) * u
            add(price, price + (-first if up else first), 0.2 * u, 0.2 * u)
            o1, c1 = rows[-1][0], rows[-1][3]
            extra = rng.choice([0.0, rng.uniform(0.1, 0.5) * u])
            if up:
                add(c1 - extra, o1 + rng.uniform(0.1, 0.6) * u, 0.2 * u, 0.2 * u)
            else:
                add(c1 + extra, o1 - rng.uniform(0.1, 0.6) * u, 0.2 * u, 0.2 * u)
        elif kind in ("morning", "evening"):
            s = -1 if kind == "morning" else 1
            add(price, price + s * rng.uniform(2.0, 3.0) * u, 0.2 * u, 0.2 * u)
            c1, o1 = rows[-1][3], rows[-1][0]
            gap = s * rng.uniform(0.2, 0.5) * u
            o = c1 + gap
            add(o, o + rng.uniform(-0.15, 0.15) * u, 0.2 * u, 0.2 * u)
            add(rows[-1][3], o1 - s * rng.uniform(0.0, 0.8) * u - s * 0.5 * abs(c1 - o1), 0.2 * u, 0.2 * u)
        elif kind == "soldiers":
            for _ in range(3):
                last = rows[-1] if rows else [price] * 5
                o = max(last[0], last[3]) - rng.uniform(0.1, 0.4) * u if last[3] > last[0] else price
                add(o, o + rng.uniform(1.2, 2.0) * u, rng.choice([0.0, 0.01]) * u, rng.uniform(0.0, 0.3) * u)
        else:  # crows
            add(price, price + rng.uniform(1.0, 2.0) * u, 0.5 * u, 0.2 * u)
            for _ in range(3):
                last = rows[-1]
                o = last[3] + rng.uniform(0.1, 0.4) * u if last[3] < last[0] else last[3] - 0.01 * u
                add(o, o - rng.uniform(1.2, 2.0) * u, rng.uniform(0.0, 0.3) * u, rng.choice([0.0, 0.01]) * u)
    return [[round(x, 4) for x in r[:4]] + [r[4]] for r in rows[:n]]


CANDLES = {
    "cdl_engulfing": ("CDLENGULFING", {}),
    "cdl_hammer": ("CDLHAMMER", {}),
    "cdl_doji": ("CDLDOJI", {}),
    "cdl_morningstar": ("CDLMORNINGSTAR", {"penetration": 0.3}),
    "cdl_eveningstar": ("CDLEVENINGSTAR", {"penetration": 0.3}),
    "cdl_3whitesoldiers": ("CDL3WHITESOLDIERS", {}),
    "cdl_3blackcrows": ("CDL3BLACKCROWS", {}),
}


def candles(rows):
    o, h, l, c = (np.array([r[i] for r in rows], dtype=float) for i in range(4))
    out = {}
    for name, (func, params) in CANDLES.items():
        values = getattr(talib, func)(o, h, l, c, **params)
        # TA-Lib's integer outputs read 0 during the warm-up; its lookback says how long that is.
        lookback = abstract.Function(func, **params).lookback
        out[name] = [None if i < lookback else int(x) for i, x in enumerate(values)]
    return out


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
    goldens.update({
        "sar_0.02_0.2": talib.SAR(h, l, acceleration=0.02, maximum=0.2),
        "sar_0.05_0.3": talib.SAR(h, l, acceleration=0.05, maximum=0.3),
        "aroonosc_14": talib.AROONOSC(h, l, timeperiod=14),
        "natr_14": talib.NATR(h, l, c, timeperiod=14),
        "trix_30": talib.TRIX(c, timeperiod=30),
        "trix_5": talib.TRIX(c, timeperiod=5),
        "apo_12_26_sma": talib.APO(c, fastperiod=12, slowperiod=26, matype=0),
        "apo_12_26_ema": talib.APO(c, fastperiod=12, slowperiod=26, matype=1),
        "apo_26_12_ema": talib.APO(c, fastperiod=26, slowperiod=12, matype=1),
        "ppo_12_26_sma": talib.PPO(c, fastperiod=12, slowperiod=26, matype=0),
        "ppo_12_26_ema": talib.PPO(c, fastperiod=12, slowperiod=26, matype=1),
        "kama_30": talib.KAMA(c, timeperiod=30),
        "kama_10": talib.KAMA(c, timeperiod=10),
        "ad": talib.AD(h, l, c, v),
        "adosc_3_10": talib.ADOSC(h, l, c, v, fastperiod=3, slowperiod=10),
        "adosc_10_3": talib.ADOSC(h, l, c, v, fastperiod=10, slowperiod=3),
        "bop": talib.BOP(o, h, l, c),
        "ultosc_7_14_28": talib.ULTOSC(h, l, c, timeperiod1=7, timeperiod2=14, timeperiod3=28),
        "ultosc_28_5_10": talib.ULTOSC(h, l, c, timeperiod1=28, timeperiod2=5, timeperiod3=10),
        "midprice_14": talib.MIDPRICE(h, l, timeperiod=14),
        "midpoint_14": talib.MIDPOINT(c, timeperiod=14),
        "linearreg_14": talib.LINEARREG(c, timeperiod=14),
        "linearreg_slope_14": talib.LINEARREG_SLOPE(c, timeperiod=14),
        "linearreg_intercept_14": talib.LINEARREG_INTERCEPT(c, timeperiod=14),
        "linearreg_angle_14": talib.LINEARREG_ANGLE(c, timeperiod=14),
        "tsf_14": talib.TSF(c, timeperiod=14),
        "var_5": talib.VAR(c, timeperiod=5, nbdev=1),
        "var_20": talib.VAR(c, timeperiod=20, nbdev=1),
    })
    down, up = talib.AROON(h, l, timeperiod=14)
    goldens.update({"aroon_14.up": up, "aroon_14.down": down})
    k, d = talib.STOCHRSI(c, timeperiod=14, fastk_period=5, fastd_period=3, fastd_matype=0)
    goldens.update({"stochrsi_14_5_3.k": k, "stochrsi_14_5_3.d": d})
    shapes = candle_series()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "input.json"), "w") as f:
        json.dump({
            "talib": talib.__version__,
            "columns": ["open", "high", "low", "close", "volume"],
            "rows": rows,
            "candle_rows": shapes,
        }, f)
    with open(os.path.join(OUT, "talib.json"), "w") as f:
        json.dump({
            "talib": talib.__version__,
            "series": {k: clean(v) for k, v in goldens.items()},
            "candles": {"rows": candles(rows), "candle_rows": candles(shapes)},
        }, f)
    print(f"wrote {len(goldens)} series over {len(rows)} bars with TA-Lib {talib.__version__}")


if __name__ == "__main__":
    main()
