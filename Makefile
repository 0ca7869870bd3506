# apedge: `make run` starts the demo site; `make test` installs what tests need and runs them.
GO ?= go
BIN := bin/apedge

.PHONY: all build run test test-deps vet bench fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/apedge

# The whole site on embedded defaults: broker, simulated readers, bridge, agent, central.
run:
	$(GO) run ./cmd/apedge demo

# Installs Mosquitto and Chromium if missing (scripts/test-deps.sh), then vet and every
# test with -race. Tests' output files (the dashboard test's screenshots) are kept under
# test-output/_artifacts; `go test -v` prints each test's folder.
test: test-deps
	$(GO) vet ./...
	@mkdir -p test-output
	$(GO) test -race -count=1 -timeout 30m -artifacts -outputdir=$(CURDIR)/test-output ./...

test-deps:
	@scripts/test-deps.sh

# Go benchmarks, printed as a table of figures beside the limits they are measured against.
bench: test-deps
	@scripts/bench.sh

# A short run of every fuzz target (FUZZTIME each, default 10s).
fuzz:
	@scripts/fuzz.sh

clean:
	rm -rf bin .apedge-demo test-output
