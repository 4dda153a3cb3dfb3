#!/usr/bin/env bash
# The main job on a fresh machine, in one command:
#   bash scripts/demo.sh
# Installs what is missing, starts the local Kafka (KRaft) + Redis on 127.0.0.1, recreates the
# topics, starts a worker, replays samples/scenario.jsonl and prints the incidents as they arrive,
# then scores them against samples/scenario.labels.jsonl. The stack keeps running afterwards
# (`python3 -m hub stack down` stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec python3 -m hub demo "$@"
