#!/usr/bin/env bash
# Builds the broker and the in-process baseline in release mode, makes a
# virtual environment with the pinned clients, and runs the throughput
# benchmark. Arguments go to throughput.py (--records, --size, --runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
venv=${SEGLOG_PY_VENV:-$root/target/py-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r broker/tests/python/requirements.txt
cargo build -q --release -p seglog-broker --bin seglog-broker --example inprocess_throughput
"$venv/bin/python" broker/bench/throughput.py "$@"
