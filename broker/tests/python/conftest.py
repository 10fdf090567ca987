"""Fixtures: a seglog-broker process on a free loopback port, per test.

The broker binary comes from $SEGLOG_BROKER, or target/debug/seglog-broker
of the workspace (build it first: `cargo build -p seglog-broker`).
"""

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

WORKSPACE = Path(__file__).resolve().parents[3]


def broker_binary():
    path = os.environ.get("SEGLOG_BROKER")
    if path:
        return Path(path)
    return WORKSPACE / "target" / "debug" / "seglog-broker"


def seglog_binary():
    """The `seglog` CLI, for reading the store back."""
    path = os.environ.get("SEGLOG_CLI")
    if path:
        return Path(path)
    return WORKSPACE / "target" / "debug" / "seglog"


class BrokerProcess:
    """A running broker; `bootstrap` is its HOST:PORT."""

    def __init__(self, data_dir, configs=()):
        self.data_dir = Path(data_dir)
        self.configs = list(configs)
        self.proc = None
        self.bootstrap = None
        self.log_lines = []

    def start(self):
        args = [str(broker_binary()), "--dir", str(self.data_dir), "--listen", "127.0.0.1:0"]
        for c in self.configs:
            args += ["--config", c]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("broker exited: %s" % "".join(self.log_lines))
            self.log_lines.append(line)
            m = re.search(r"listening on (\S+),", line)
            if m:
                self.bootstrap = m.group(1)
                break
        else:
            raise RuntimeError("broker did not start")
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        for line in self.proc.stderr:
            self.log_lines.append(line)

    def stop(self, timeout=30):
        """SIGTERM, then wait; returns the exit code."""
        if self.proc is None:
            return None
        self.proc.terminate()
        code = self.proc.wait(timeout=timeout)
        self.proc = None
        return code

    def restart(self):
        assert self.stop() == 0
        return self.start()

    def log(self):
        return "".join(self.log_lines)


@pytest.fixture
def broker_factory(tmp_path):
    started = []

    def make(*configs, data_dir=None):
        b = BrokerProcess(data_dir or tmp_path / ("store%d" % len(started)), configs)
        started.append(b)
        return b.start()

    yield make
    for b in started:
        if b.proc is not None:
            code = b.stop()
            assert code == 0, "broker exited with %s:\n%s" % (code, b.log())
        assert "panicked" not in b.log(), b.log()


@pytest.fixture
def broker(broker_factory):
    # Groups rebalance at once: the tests start their members together.
    return broker_factory("group.initial.rebalance.delay.ms=0")
