"""Broker throughput with librdkafka (confluent-kafka) beside the library's
in-process Producer/Consumer on the same data, in the same run.

    bash broker/bench/run.sh [--records N] [--size BYTES]

Produces N records of SIZE bytes (linger.ms=5, acks=1) to a one-partition
topic through the broker, consumes them back, then has the in-process
example do the same against a fresh store, and prints records/s, MB/s and
the ratio broker / in-process. The broker's own CPU time in each phase is
printed too: the rest of the wall time is the client's (a Python call per
record) and the wire.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "target" / "release"


def start_broker(data_dir):
    proc = subprocess.Popen(
        [str(RELEASE / "seglog-broker"), "--dir", data_dir, "--listen", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stderr:
        m = re.search(r"listening on (\S+),", line)
        if m:
            threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
            return proc, m.group(1)
    raise RuntimeError("the broker did not start")


def cpu_seconds(pid):
    """User + system CPU time the process has used (Linux)."""
    try:
        fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def broker_run(records, size):
    with tempfile.TemporaryDirectory() as d:
        proc, bootstrap = start_broker(d)
        try:
            value = b"x" * size
            p = Producer(
                {
                    "bootstrap.servers": bootstrap,
                    "linger.ms": 5,
                    "acks": 1,
                    "queue.buffering.max.messages": 1_000_000,
                }
            )
            # Create the topic (auto-created on metadata) before timing.
            p.list_topics("bench", timeout=10)
            cpu = cpu_seconds(proc.pid)
            started = time.perf_counter()
            for _ in range(records):
                while True:
                    try:
                        p.produce("bench", value)
                        break
                    except BufferError:
                        p.poll(0.001)
                p.poll(0)
            if p.flush(60) != 0:
                raise RuntimeError("records left unsent")
            produce_s = time.perf_counter() - started
            produce_cpu = cpu_seconds(proc.pid) - cpu

            c = Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "group.id": "bench",
                    "enable.auto.commit": False,
                    # librdkafka stops fetching for a second (its default
                    # fetch.queue.backoff.ms) whenever its local queue is
                    # full, which would measure the client's pause, not
                    # the broker.
                    "fetch.queue.backoff.ms": 0,
                    "max.partition.fetch.bytes": 10485760,
                }
            )
            c.assign([TopicPartition("bench", 0, 0)])
            cpu = cpu_seconds(proc.pid)
            started = time.perf_counter()
            seen = 0
            while seen < records:
                for m in c.consume(num_messages=10_000, timeout=1.0):
                    if m.error() is None:
                        seen += 1
            consume_s = time.perf_counter() - started
            consume_cpu = cpu_seconds(proc.pid) - cpu
            c.close()
            return produce_s, consume_s, produce_cpu, consume_cpu
        finally:
            proc.terminate()
            proc.wait(30)


def inprocess_run(records, size):
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(
            [str(RELEASE / "examples" / "inprocess_throughput"), d + "/store", str(records), str(size)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        return r["produce_s"], r["consume_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3, help="runs of each; medians are reported")
    a = ap.parse_args()
    broker, inproc = [], []
    for _ in range(a.runs):
        broker.append(broker_run(a.records, a.size))
        inproc.append(inprocess_run(a.records, a.size))

    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2]

    mb = a.records * a.size / 1e6
    print("%d records of %d B, median of %d runs" % (a.records, a.size, a.runs))
    print("| | broker (confluent-kafka) | broker CPU | in-process | ratio |")
    print("|---|---|---|---|---|")
    for i, what in enumerate(["produce", "consume"]):
        b = median([r[i] for r in broker])
        cpu = median([r[i + 2] for r in broker])
        p = median([r[i] for r in inproc])
        print(
            "| %s | %.0f rec/s, %.1f MB/s | %.2f s | %.0f rec/s, %.1f MB/s | %.2fx |"
            % (what, a.records / b, mb / b, cpu, a.records / p, mb / p, p / b)
        )


if __name__ == "__main__":
    sys.exit(main())
