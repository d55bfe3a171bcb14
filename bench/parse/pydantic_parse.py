#!/usr/bin/env python3
"""The original services' approach to parsing TWSE bodies, for `bench/parse/run`: pydantic v2
models doing the validation `experiment_twse::parse` does, timed on the same bodies.

    pydantic_parse.py BODIES_DIR CRITERION_DIR [REPETITIONS, default 200]

BODIES_DIR holds the bodies the Rust bench parsed (stock_day_all.json, mis_100.json,
mi_index.json; written by `benches/parse.rs` with EXPERIMENT_BENCH_BODIES). CRITERION_DIR is
that bench's criterion output, where our medians are read. Each body is parsed once untimed
(and checked to give as many items as ours), then REPETITIONS times; the figure is the
median in microseconds. A ratio (pydantic / ours) of 20 means we are 20 times faster.

The work is ours, step for step, in pydantic's idiom (`TypeAdapter.validate_json`, pydantic's
Rust core parsing the JSON, validators for what TWSE prints):
- numbers with thousands separators, a leading `+`, and `--`, `---`, empty and `X…`
  placeholders as None; changes with `除權`/`除息` as None; MI_INDEX's sign in HTML;
- dates as ROC `1150708` or Gregorian `20260708` / `2026-07-08` / `2026/07/08`;
- codes of 1–12 ASCII letters and digits; names trimmed;
- a row without a trade (no price, or a zero close) skipped with its reason, and a traded
  row's bar validated (positive low, low ≤ high ≤ 10⁷, open and close within, date in
  1900–2200, non-negative value, change below 100× the close) or skipped with the reason;
- every listed security kept with its name and whether it traded;
- MIS: `-` as absent, zero prices as None, volumes × 1000 (board lots), the book's
  `_`-joined prices and volumes paired into levels, `tlong` (epoch ms) as the time, else
  `d` + `t` in Taipei time; `rtcode` must be `0000`; MI_INDEX: the quotes table found by
  title and its columns by name.
"""
import json
import os
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

MAX_PRICE = Decimal(10_000_000)
TAIPEI = timezone(timedelta(hours=8))


def number(v: Any) -> Optional[Decimal]:
    if v is None:
        return None
    t = "".join(str(v).replace(",", "").split())
    t = t.removeprefix("+")
    if not t or t.startswith("--") or t[0] in "Xx":
        return None
    try:
        d = Decimal(t)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def count(v: Any) -> Optional[int]:
    d = number(v)
    if d is None or d != d.to_integral_value() or d < 0:
        return None
    return int(d)


def change(v: Any) -> Optional[Decimal]:
    t = "" if v is None else str(v).strip()
    return None if "除" in t else number(t)


def text(v: Any) -> str:
    return "" if v is None else str(v).strip()


def roc_or_gregorian(v: Any) -> date:
    s = text(v)
    if len(s) == 8 and s.isdigit():
        return datetime.strptime(s, "%Y%m%d").date()
    if len(s) == 10 and s[4] in "-/":
        return datetime.strptime(s, f"%Y{s[4]}%m{s[4]}%d").date()
    digits = s.replace("/", "")
    if not digits.isdigit() or len(digits) not in (6, 7):
        raise ValueError(f"'{s}' is not a date")
    return date(int(digits[:-4]) + 1911, int(digits[-4:-2]), int(digits[-2:]))


def code(v: Any) -> str:
    c = text(v)
    if not c or len(c) > 12 or not (c.isascii() and c.isalnum()):
        raise ValueError(f"'{c}' is not a security code")
    return c


Number = Annotated[Optional[Decimal], BeforeValidator(number)]
Count = Annotated[Optional[int], BeforeValidator(count)]
Change = Annotated[Optional[Decimal], BeforeValidator(change)]
Text = Annotated[str, BeforeValidator(text)]
Code = Annotated[str, BeforeValidator(code)]
Day = Annotated[date, BeforeValidator(roc_or_gregorian)]


class DailyBar(BaseModel):
    code: str
    date: date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    value: Decimal
    trades: Optional[int]
    change: Optional[Decimal]


class Listed(BaseModel):
    code: str
    name: str
    traded: bool


def bar_or_reason(code, day, o, h, l, c, volume, value, trades, chg):
    """A validated bar, or why the row is unusable (as `classic::bar` and `DailyBar::validate`)."""
    if o is None or h is None or l is None or c is None:
        return None, "no trade (prices are '--')"
    if c == 0:
        return None, "no trade (prices are 0)"
    if volume is None or value is None:
        return None, "volume or value is not a number"
    if not date(1900, 1, 1) <= day <= date(2200, 12, 31):
        return None, f"date {day} is outside 1900-2200"
    if l <= 0 or l > h or h > MAX_PRICE or not (l <= o <= h) or not (l <= c <= h):
        return None, f"prices {o} {h} {l} {c} are inconsistent"
    if value < 0:
        return None, f"value {value} is out of range"
    if chg is not None and abs(chg) >= max(c, Decimal(1)) * 100:
        return None, f"change {chg} is out of range"
    return DailyBar(
        code=code, date=day, open=o, high=h, low=l, close=c, volume=volume, value=value,
        trades=trades, change=chg,
    ), None


# STOCK_DAY_ALL ---------------------------------------------------------------------------


class DayAllRow(BaseModel):
    model_config = ConfigDict(extra="ignore")
    Date: Day
    Code: Code
    Name: Text
    TradeVolume: Count
    TradeValue: Number
    OpeningPrice: Number
    HighestPrice: Number
    LowestPrice: Number
    ClosingPrice: Number
    Change: Change
    Transaction: Count


DAY_ALL = TypeAdapter(list[DayAllRow])


def stock_day_all(body: bytes):
    bars, skipped, listed = [], [], []
    for i, r in enumerate(DAY_ALL.validate_json(body)):
        traded = r.ClosingPrice is not None and r.ClosingPrice != 0
        listed.append(Listed(code=r.Code, name=r.Name, traded=traded))
        bar, why = bar_or_reason(
            r.Code, r.Date, r.OpeningPrice, r.HighestPrice, r.LowestPrice, r.ClosingPrice,
            r.TradeVolume, r.TradeValue, r.Transaction, r.Change,
        )
        if bar is None:
            skipped.append((f"STOCK_DAY_ALL row {i + 1} ({r.Code})", why))
        else:
            bars.append(bar)
    return bars, skipped, listed


# MIS getStockInfo ------------------------------------------------------------------------


def dash(v: Any) -> Optional[str]:
    if v is None:
        return None
    s = str(v).strip()
    return None if not s or s == "-" else s


def price(v: Any) -> Optional[Decimal]:
    d = number(dash(v))
    return None if d is None or d == 0 else d


Dash = Annotated[Optional[str], BeforeValidator(dash)]
Price = Annotated[Optional[Decimal], BeforeValidator(price)]


class BookLevel(BaseModel):
    price: Decimal
    volume: int


class MisItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    c: Code
    n: Dash = None
    ex: Dash = None
    it: Dash = None
    z: Price = None
    tv: Dash = None
    v: Dash = None
    o: Price = None
    h: Price = None
    l: Price = None
    y: Price = None
    u: Price = None
    w: Price = None
    a: Dash = None
    f: Dash = None
    b: Dash = None
    g: Dash = None
    tlong: Dash = None
    d: Dash = None
    t: Dash = None


class MisResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")
    msgArray: list[MisItem] = Field(default_factory=list)
    rtcode: Optional[str] = None
    rtmessage: Optional[str] = None


class Quote(BaseModel):
    code: str
    exchange: str
    name: str
    last: Optional[Decimal]
    last_volume: Optional[int]
    open: Optional[Decimal]
    high: Optional[Decimal]
    low: Optional[Decimal]
    reference: Optional[Decimal]
    limit_up: Optional[Decimal]
    limit_down: Optional[Decimal]
    volume: Optional[int]
    bids: list[BookLevel]
    asks: list[BookLevel]
    exchange_time: datetime
    received_at: datetime


MIS = TypeAdapter(MisResponse)
RECEIVED = datetime(2026, 7, 31, 6, 0, tzinfo=timezone.utc)


def book(prices, volumes, lot):
    if prices is None or volumes is None:
        return []
    levels = []
    for p, v in zip(prices.split("_"), volumes.split("_")):
        p, v = number(p), count(v)
        if p is not None and p != 0 and v is not None:
            levels.append(BookLevel(price=p, volume=v * lot))
    return levels


def quotes(body: bytes):
    r = MIS.validate_json(body)
    if r.rtcode not in (None, "0000"):
        raise ValueError(f"rtcode {r.rtcode}: {r.rtmessage}")
    lot, out = 1000, []
    for item in r.msgArray:
        if item.tlong is not None:
            at = datetime.fromtimestamp(int(item.tlong) / 1000, tz=timezone.utc)
        else:
            local = datetime.strptime(f"{item.d} {item.t or ''}", "%Y%m%d %H:%M:%S")
            at = local.replace(tzinfo=TAIPEI).astimezone(timezone.utc)
        index = item.it == "t"

        def volume(v):
            c = None if index else count(v)
            return None if c is None else c * lot

        out.append(Quote(
            code=item.c, exchange="tpex" if item.ex == "otc" else "twse", name=item.n or "",
            last=item.z, last_volume=volume(item.tv), open=item.o, high=item.h, low=item.l,
            reference=item.y, limit_up=item.u, limit_down=item.w, volume=volume(item.v),
            bids=book(item.b, item.g, lot), asks=book(item.a, item.f, lot),
            exchange_time=at, received_at=RECEIVED,
        ))
    return out


# MI_INDEX --------------------------------------------------------------------------------

Cell = Any


class Table(BaseModel):
    model_config = ConfigDict(extra="ignore")
    stat: Optional[str] = None
    title: Optional[str] = None
    date: Optional[str] = None
    fields: Optional[list[str]] = None
    data: list[list[Cell]] = Field(default_factory=list)
    tables: list["Table"] = Field(default_factory=list)


class MiIndexRow(BaseModel):
    """One row of the quotes table, its cells by column name."""

    code: Code
    name: Text
    volume: Count
    trades: Count
    value: Number
    open: Number
    high: Number
    low: Number
    close: Number
    sign: Text
    change: Number


MI_INDEX = TypeAdapter(Table)
MI_COLUMNS = {
    "證券代號": "code", "證券名稱": "name", "成交股數": "volume", "成交筆數": "trades",
    "成交金額": "value", "開盤價": "open", "最高價": "high", "最低價": "low",
    "收盤價": "close", "漲跌(+/-)": "sign", "漲跌價差": "change",
}


def mi_index(body: bytes, day: date):
    root = MI_INDEX.validate_json(body)
    if (root.stat or "OK").strip() not in ("OK", "ok"):
        return [], [], []
    if root.date is not None and datetime.strptime(root.date, "%Y%m%d").date() != day:
        raise ValueError(f"body for {root.date}, asked {day}")
    table = next((t for t in root.tables if t.title and "每日收盤行情" in t.title), None)
    if table is None:
        return [], [], []
    norm = ["".join(f.split()) for f in table.fields or []]
    columns = [(norm.index(name), key) for name, key in MI_COLUMNS.items()]
    bars, skipped, listed = [], [], []
    for i, cells in enumerate(table.data):
        r = MiIndexRow.model_validate({key: cells[at] for at, key in columns})
        traded = r.close is not None and r.close != 0
        listed.append(Listed(code=r.code, name=r.name, traded=traded))
        chg = None
        if "X" not in r.sign and "x" not in r.sign and r.change is not None:
            chg = -abs(r.change) if "-" in r.sign else abs(r.change)
        bar, why = bar_or_reason(
            r.code, day, r.open, r.high, r.low, r.close, r.volume, r.value, r.trades, chg
        )
        if bar is None:
            skipped.append((f"{day} row {i + 1} ({r.code})", why))
        else:
            bars.append(bar)
    return bars, skipped, listed


# -----------------------------------------------------------------------------------------


def ours_us(criterion, name):
    path = os.path.join(criterion, "parse", name, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"] / 1e3


def main():
    bodies, criterion = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    read = lambda name: open(os.path.join(bodies, name), "rb").read()  # noqa: E731
    cases = [
        ("STOCK_DAY_ALL", "STOCK_DAY_ALL (1,369 rows)", read("stock_day_all.json"),
         stock_day_all),
        ("MIS 100 quotes", "MIS batch of 100 quotes", read("mis_100.json"), quotes),
        ("MI_INDEX", "MI_INDEX ALLBUT0999 2023-01-30 (1,182 rows)", read("mi_index.json"),
         lambda b: mi_index(b, date(2023, 1, 30))),
    ]
    print(f"pydantic: median of {reps} parses; ours: criterion's median\n")
    print("| body | ours µs | pydantic µs | ratio (pydantic / ours) |")
    print("|---|---:|---:|---:|")
    for bench, label, body, parse in cases:
        first = parse(body)
        items = len(first[0]) if isinstance(first, tuple) else len(first)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            parse(body)
            times.append(time.perf_counter() - t)
        theirs = statistics.median(times) * 1e6
        mine = ours_us(criterion, bench)
        print(f"| {label}: {items} items, {len(body):,} bytes | {mine:,.1f} | {theirs:,.1f} "
              f"| {theirs / mine:.1f}× |")


if __name__ == "__main__":
    main()
