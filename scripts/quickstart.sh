#!/usr/bin/env bash
# Fresh machine to imported example in one go: set up, then import examples/dump with the local
# backend into the embedded store (no server needed), starting over each time, and export the
# store's tables again as a mydumper dump. (examples/tidb-lightning.toml imports the same dump
# into the local MariaDB with the tidb backend.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
rm -rf /tmp/tidb_lightning_example_store /tmp/tidb_lightning_example_sorted_kv \
  /tmp/tidb_lightning_example_export /tmp/tidb_lightning_example_local_checkpoint.json
.venv/bin/tidb-lightning --config examples/tidb-lightning-local.toml
.venv/bin/tidb-lightning-ctl --config examples/tidb-lightning-local.toml \
  --export /tmp/tidb_lightning_example_export
