#!/usr/bin/env bash
# Fresh machine to imported example in one go: set up, then import examples/dump into the
# local MariaDB with the TiDB backend, starting over each time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
rm -f /tmp/tidb_lightning_example_checkpoint.json
.venv/bin/tidb-lightning --config examples/tidb-lightning.toml
