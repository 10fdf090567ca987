#!/usr/bin/env bash
# Builds the broker and the seglog CLI, makes a virtual environment with
# the pinned Kafka clients, and runs the Python client tests. Arguments go
# to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
venv=${SEGLOG_PY_VENV:-$root/target/py-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r broker/tests/python/requirements.txt
cargo build -q -p seglog-broker --bin seglog-broker
cargo build -q --features cli,zstd --bin seglog
"$venv/bin/python" -m pytest -q -p no:cacheprovider broker/tests/python "$@"
