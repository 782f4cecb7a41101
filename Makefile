# Tandem build, run, test and benchmark entry points (README.md).
GO        ?= go
BIN       := bin
GOFLAGS   ?= -buildvcs=false
export GOFLAGS

# Debian packages the tests drive as real peers (peers.md).
TEST_DEBS := postgresql
BENCH_DEBS := etcd-server

.PHONY: all build run test deps bench vet fmt clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/tandemd ./cmd/tandemctl

run: build
	./$(BIN)/tandemd

# deps installs the real peers the tests need, only when missing.
deps:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

test: deps build vet
	mkdir -p bench/out
	TANDEM_BIN_DIR=$(CURDIR)/$(BIN) TANDEM_FAILOVER_OUT=$(CURDIR)/bench/out/failover.txt $(GO) test -count=1 -timeout 25m ./...
	cd bench/load && $(GO) vet ./... && $(GO) test -count=1 ./...

bench: build
	@missing=""; for p in $(BENCH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(GO) test ./contactcenter/ -run XXX -bench BenchmarkRouting -benchmem -cpu 1
	./bench/raft.sh
	./bench/drain.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) bench/out
