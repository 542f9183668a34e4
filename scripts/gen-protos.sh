#!/usr/bin/env bash
# Regenerate the Python modules of the kvproto subset
# (plugins/backend_local/lightning_backend_local/kvproto/*.proto) with grpcio-tools' protoc.
#
#   scripts/gen-protos.sh [OUT_DIR]     (default: next to the .proto files)
#
# The include root is plugins/backend_local and the protos import each other as
# "lightning_backend_local/kvproto/<name>.proto", so the generated modules import each other as
# lightning_backend_local.kvproto.<name>_pb2 with no rewriting. The output depends on the
# grpcio-tools version: keep it equal to the pin in pyproject.toml's test extra.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath "${1:-$repo/plugins/backend_local}")
python=${PYTHON:-$repo/.venv/bin/python}

cd "$repo/plugins/backend_local"
"$python" -m grpc_tools.protoc \
  --proto_path=. \
  --python_out="$out" \
  --grpc_python_out="$out" \
  --pyi_out="$out" \
  lightning_backend_local/kvproto/*.proto
