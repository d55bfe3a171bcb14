"""Side by side on one Kafka-protocol broker: the same seed-format events consumed by
(1) a bare librdkafka consumer doing nothing (the broker's ceiling here), (2) experiment-worker,
(3) the original design's faust-streaming worker. Prints events/s, CPU and peak RSS of each.

Run through bench/kafka/run, which builds and installs what this needs."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BROKERS = os.environ.get("BENCH_BROKERS", "127.0.0.1:19092")
WORKER = os.environ["BENCH_WORKER_BIN"]
# `experiment` (for `experiment rule add`); without it the run with rules is left out.
CLI = os.environ.get("BENCH_CLI_BIN", "")
HERE = os.path.dirname(os.path.abspath(__file__))
TOTAL = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
CODES = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000
PARTITIONS = 6
PREFIX = f"bench-{uuid.uuid4().hex[:12]}."
TOPIC = PREFIX + "asset.info.view.v1"


def log(*a):
    print("bench/kafka:", *a, file=sys.stderr, flush=True)


def publish():
    admin = AdminClient({"bootstrap.servers": BROKERS})
    for f in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
        f.result()
    p = Producer({"bootstrap.servers": BROKERS, "linger.ms": 20, "acks": "all"})
    t0 = time.time()
    base = 1_766_989_800.0
    for i in range(TOTAL):
        code = str(1000 + i % CODES)
        step = i // CODES
        price = 100.0 + ((i * 7919) % 1000) / 100.0
        value = {
            "exchange": "TWSE",
            "code": code,
            "name": "bench",
            "query_time": base + step,
            "full_name": "bench",
            "opening_price": "100.0000",
            "current_intraday_price": f"{price:.4f}",
            "highest_price": "110.0000",
            "lowest_price": "99.0000",
            "updated_time": base + step,
        }
        while True:
            try:
                p.produce(TOPIC, key=json.dumps({"code": code}), value=json.dumps(value))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    p.flush(120)
    log(f"published {TOTAL} events to {TOPIC} in {time.time() - t0:.1f} s")


def committed(group):
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": group, "enable.auto.commit": False})
    try:
        parts = c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=10)
        return sum(max(tp.offset, 0) for tp in parts)
    finally:
        c.close()


def proc_stats(pid):
    """(cpu seconds, peak RSS MB) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    return cpu, rss


def bare():
    c = Consumer({
        "bootstrap.servers": BROKERS,
        "group.id": "bare-" + uuid.uuid4().hex,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    c.subscribe([TOPIC])
    n, t0, first = 0, time.time(), None
    while n < TOTAL and time.time() - t0 < 600:
        for m in c.consume(num_messages=10_000, timeout=1.0):
            if m.error():
                continue
            if first is None:
                first = time.time()
            n += 1
    end = time.time()
    c.close()
    return n, end - t0, end - (first or t0)


# Ten rules of the kinds users write, as in apps/worker/benches/throughput.rs; evaluated on
# every quote against the forming day bar (once per bar), so every code holds ten rules'
# indicator state: what the worker's memory is measured with.
RULES = [
    "crosses_above(sma(close, 5), sma(close, 20))",
    "rsi(14) < 20",
    "crosses_above(macd(12, 26, 9).macd, macd(12, 26, 9).signal) and close > sma(close, 50)",
    "crosses_above(close, bbands(20, 2).upper)",
    "new_low(20d)",
    "crosses_below(ema(close, 10), ema(close, 30))",
    "cci(20) > 200",
    "willr(14) < -97",
    "atr(14) > close * 0.05",
    "close > open * 1.028",
]


def add_rules(data):
    """Stores RULES in the embedded store in `data` with `experiment rule add`."""
    config = os.path.join(data, "experiment.toml")
    with open(config, "w") as f:
        f.write(f'[store]\ndata_dir = "{data}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPERIMENT_")}
    for i, expr in enumerate(RULES):
        subprocess.run([CLI, "rule", "add", f"r{i}", expr, "--frequency", "once-per-bar",
                        "--config", config], check=True, env=env, stdout=subprocess.DEVNULL)


def experiment_worker(rules=False):
    group = "exp-" + uuid.uuid4().hex
    data = tempfile.mkdtemp(prefix="bench-worker-")
    if rules:
        add_rules(data)
    proc = subprocess.Popen(
        [WORKER, "--kafka-brokers", BROKERS, "--topic-prefix", PREFIX, "--group", group,
         "--seed-topic", "--data-dir", data, "--log", "warn"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "worker.log"), "w"),
        env={k: v for k, v in os.environ.items() if not k.startswith("EXPERIMENT_")},
    )
    t0 = time.time()
    done = 0
    while time.time() - t0 < 900:
        time.sleep(0.5)
        done = committed(group)
        if done >= TOTAL:
            break
    took = time.time() - t0
    cpu, rss = proc_stats(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    return done, took, cpu, rss


def faust_worker():
    group = "faust-" + uuid.uuid4().hex[:12]
    done_file = tempfile.mktemp(prefix="bench-faust-")
    env = dict(os.environ, BENCH_TOPIC=TOPIC, BENCH_TOTAL=str(TOTAL), BENCH_DONE_FILE=done_file,
               BENCH_GROUP=group, BENCH_BROKERS=BROKERS)
    workdir = tempfile.mkdtemp(prefix="bench-faust-dir-")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "faust_app.py")], cwd=workdir,
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(workdir, "faust.log"), "w"))
    t0 = time.time()
    end, alerts = None, None
    while time.time() - t0 < 900 and proc.poll() is None:
        time.sleep(0.5)
        if os.path.exists(done_file):
            with open(done_file) as f:
                text = f.read().split()
            if text:
                end, alerts = float(text[0]), int(text[1])
                break
    cpu, rss = proc_stats(proc.pid) if proc.poll() is None else (float("nan"), float("nan"))
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    if end is None:
        log("faust did not finish; its log:", open(os.path.join(workdir, "faust.log")).read()[-2000:])
        return None
    return TOTAL, end - t0, cpu, rss


def main():
    publish()
    n, took, steady = bare()
    print(f"| bare librdkafka consumer (Python binding, no processing) | {n} | {n / took:,.0f} | — | — |")
    sys.stdout.flush()
    done, took, cpu, rss = experiment_worker()
    print(f"| experiment-worker (release, embedded store, no rules), committed | {done} | {done / took:,.0f} | {cpu:.1f} s ({100 * cpu / took:.0f}% of a core) | {rss:.0f} MB |")
    sys.stdout.flush()
    if CLI:
        done, took, cpu, rss = experiment_worker(rules=True)
        print(f"| experiment-worker, 10 rules on every code ({CODES} codes × 10 rules' indicators), committed | {done} | {done / took:,.0f} | {cpu:.1f} s ({100 * cpu / took:.0f}% of a core) | {rss:.0f} MB |")
        sys.stdout.flush()
    r = faust_worker()
    if r:
        done, took, cpu, rss = r
        print(f"| faust-streaming 0.15.3, seed's new-low tumbling table | {done} | {done / took:,.0f} | {cpu:.1f} s ({100 * cpu / took:.0f}% of a core) | {rss:.0f} MB |")
    else:
        print("| faust-streaming 0.15.3 | did not finish | | | |")


if __name__ == "__main__":
    print(f"{TOTAL} seed-format events over {CODES} codes, {PARTITIONS} partitions, broker {BROKERS}\n")
    print("| consumer | events | events/s (from start, incl. group join) | CPU | peak RSS |")
    print("|---|---|---|---|---|")
    main()
