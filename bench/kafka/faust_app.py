"""The original services' worker design, for the side-by-side benchmark: faust-streaming
consuming `asset.info.view.v1` with the seed's rule, a new low within a 1-hour tumbling
window (a windowed table of the lowest price per code). Counts the events it processed and
writes the time the last one was done to DONE_FILE."""
import json
import os
import sys
import time
from datetime import timedelta

import faust

TOPIC = os.environ["BENCH_TOPIC"]
TOTAL = int(os.environ["BENCH_TOTAL"])
DONE_FILE = os.environ["BENCH_DONE_FILE"]

app = faust.App(
    os.environ["BENCH_GROUP"],
    broker="kafka://" + os.environ["BENCH_BROKERS"],
    store="memory://",
    topic_partitions=6,
    topic_replication_factor=1,
    web_enabled=False,
    consumer_auto_offset_reset="earliest",
)
views = app.topic(TOPIC, key_type=bytes, value_type=bytes, value_serializer="raw")
lows = app.Table("lows", default=lambda: None, partitions=6).tumbling(
    timedelta(hours=1), expires=timedelta(hours=2)
)
state = {"count": 0, "alerts": 0}


@app.agent(views)
async def process(stream):
    async for key, raw in stream.items():
        view = json.loads(raw)
        price = view.get("current_intraday_price")
        if price is not None:
            price = float(price)
            code = view["code"]
            low = lows[code].current()
            if low is None or price < low:
                if low is not None:
                    state["alerts"] += 1
                lows[code] = price
        state["count"] += 1
        if state["count"] == TOTAL:
            with open(DONE_FILE, "w") as f:
                f.write(f"{time.time()} {state['alerts']}\n")


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()
