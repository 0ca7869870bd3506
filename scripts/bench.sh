#!/usr/bin/env bash
# make bench: runs apedge's Go benchmarks and prints the figures as a table beside the
# limits measured in the same run (scripts/benchtable). Raw output goes to stderr.
# The end-to-end benchmarks in hil-tests measure real processes once each (-benchtime 1x).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME=${BENCHTIME:-3s}
{
  go test -run '^$' -bench . -benchtime "$BENCHTIME" -timeout 30m ./agent/journal ./central
  go test -run '^$' -bench . -benchtime 1s -timeout 30m ./formats/proof
  go test -run '^$' -bench . -benchtime 100x -timeout 30m ./devices/osdp
  go test -run '^$' -bench . -benchtime 50x -timeout 30m ./agent/curfew
  go test -run '^$' -bench Movements -benchtime 5000x -timeout 30m ./agent
  go test -run '^$' -bench Flood -benchtime 1x -timeout 10m ./internal/broker
  HIL_NO_RACE=1 go test -run '^$' -bench . -benchtime 1x -timeout 30m ./hil-tests
} 2>&1 | go run ./scripts/benchtable
