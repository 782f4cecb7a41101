# Tandem build, run, test and benchmark entry points (README.md).
GO        ?= go
BIN       := bin
GOFLAGS   ?= -buildvcs=false
export GOFLAGS

# Debian packages the tests drive as real peers (peers.md), and the C
# toolchain the race detector needs (cgo). Postfix relays the e-mail
# channel's replies into Dovecot over LMTP (dovecot-lmtpd); the tests run
# their own instances (internal/postfixtest, internal/dovecottest), never
# the system's.
TEST_DEBS := tzdata postgresql gcc libc6-dev curl snmp snmptrapd smitools chromium sip-tester dovecot-imapd dovecot-lmtpd postfix
BENCH_DEBS := etcd-server snmp snmpd zstd kamailio
# The IETF base MIBs (SNMPv2-SMI, -TC, -CONF, SNMPv2-MIB) that smilint and
# the net-snmp tools need beside TANDEM-MIB: Debian ships none, the npm
# package net-snmp carries them (its lib/mibs).
SNMP_MIBS := $(CURDIR)/.cache/net-snmp/package/lib/mibs
# staticcheck is fetched from the module proxy by `make vet` (and test).
STATICCHECK := v0.8.2

.PHONY: all build run test race deps snmp-mibs bench bench-smoke chaos vet fmt clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/tandemd ./cmd/tandemctl

run: build
	./$(BIN)/tandemd

# deps installs the real peers the tests need, only when missing.
# Postfix is preseeded to "No configuration": its install asks nothing,
# writes no /etc/postfix/main.cf and starts no system instance to get in
# the tests' way.
deps:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		echo "postfix postfix/main_mailer_type select No configuration" | $$SUDO debconf-set-selections; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK) ./...

test: deps build vet snmp-mibs
	mkdir -p bench/out
	TANDEM_SNMP_MIBS=$(SNMP_MIBS) TANDEM_BIN_DIR=$(CURDIR)/$(BIN) TANDEM_FAILOVER_OUT=$(CURDIR)/bench/out/failover.txt TANDEM_E2E_ARTIFACTS=$(CURDIR)/bench/out/screens $(GO) test -count=1 -timeout 25m ./...
	cd bench/load && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(MAKE) --no-print-directory race
	$(MAKE) --no-print-directory bench-smoke

# snmp-mibs fetches the IETF base MIBs once (npm pack net-snmp).
snmp-mibs: $(SNMP_MIBS)/SNMPv2-SMI.mib

$(SNMP_MIBS)/SNMPv2-SMI.mib:
	mkdir -p .cache/net-snmp
	cd .cache/net-snmp && npm pack --silent net-snmp@3.29.2 && tar -xzf net-snmp-3.29.2.tgz
	test -f $@

# race runs every package but the end-to-end tests under the race
# detector (TestConcurrentReaders and friends assert nothing without it)
# in -short mode: the long single-threaded runs (the engine's random
# sequences and routing equivalence, the log store's truncation cases,
# the buffer's memory and crash tests) ran in full just before without
# -race, and took 4 of its 6 minutes under it. The mail channel's package
# runs against Dovecot with its fetches and commits in flight at once.
# Then end-to-end tests of every edge (SIP, mail, web callback and chat,
# the console stream, SNMPv3, backup) against a tandemd built with -race
# (TANDEM_E2E_RACE: the harness checks the binary is race-built and fails
# a test whose nodes reported a data race).
RACE_BIN := bin-race
RACE_E2E := ^(TestSIP(QueueCallWithSipp|QueueSeveralCallsWithSipp|ParkPickupWithSipp|BlindTransferWithSipp|ReferTransferWithSipp|LeaderFailoverReleasesCalls|FailoverCallStorm|VoicemailDepositWithSipp)|TestMail(Ingestion|LeaderKilled)|TestWeb(CallbackCluster|ChatAcrossFailover)|TestConsoleStreamFilter|TestSNMPv3|TestBackupOnApply)$$
race: deps
	$(GO) test -race -short -count=1 -timeout 20m $$($(GO) list ./... | grep -v /test/e2e)
	$(GO) build -race -o $(RACE_BIN)/ ./cmd/tandemd ./cmd/tandemctl
	TANDEM_BIN_DIR=$(CURDIR)/$(RACE_BIN) TANDEM_E2E_RACE=1 $(GO) test -count=1 -timeout 20m -run '$(RACE_E2E)' ./test/e2e/

# bench-smoke runs the bench scripts in a short mode (tandem only, small
# sizes, a few seconds each), so that what `make bench` runs cannot rot
# unnoticed. It checks that they run, not that targets are met.
bench-smoke: build
	ROUTING_BENCHTIME=200x ROUTING_DECISIONS=3000 ROUTING_COUNT=1 ROUTING_PROFILE=0 \
		BENCH_OUT=$(CURDIR)/bench/out/smoke ./bench/routing.sh
	BENCH_TARGETS=tandem BENCH_CONCURRENCY="4 16" BENCH_DURATION=1s BENCH_ROUNDS=1 BENCH_WARMUP=200ms \
		BENCH_FAILOVERS=1 BENCH_RESTART_ENTRIES=2000 BENCH_OUT=$(CURDIR)/bench/out/smoke ./bench/raft.sh
	DRAIN_SIZES=16MiB BENCH_OUT=$(CURDIR)/bench/out/smoke ./bench/drain.sh
	SNMP_TARGETS=tandem SNMP_QUEUES=20 SNMP_WALKS=3 SNMP_LOOPS=4 SNMP_DURATION=1 \
		BENCH_OUT=$(CURDIR)/bench/out/smoke ./bench/snmp.sh
	BACKUP_STATE_MB=8 BACKUP_ROUNDS=1 BENCH_OUT=$(CURDIR)/bench/out/smoke ./bench/backup.sh
	WEB_TARGETS="callback chat" BENCH_CONCURRENCY=8 CHAT_CONCURRENCY=4 CHAT_ROTATE=20 BENCH_DURATION=1s BENCH_WARMUP=200ms \
		BENCH_OUT=$(CURDIR)/bench/out/smoke ./bench/web.sh
	CONSOLE_ROUNDS=2 BENCH_OUT=$(CURDIR)/bench/out/smoke ./bench/console.sh
	SIP_TARGETS=tandem SIP_AGENTS=20 SIP_RATES="10 20" SIP_STEP=2 SIP_PROFILE=0 \
		BENCH_OUT=$(CURDIR)/bench/out/smoke ./bench/sip.sh

# chaos is the fault run of `make test` (test/e2e TestFaultRun) for longer:
# TANDEM_CHAOS_DURATION (default 5m) of kills, pauses and restarts under
# concurrent writers and linearizable readers, the members snapshotting
# every 512 entries (restarts restore a snapshot and replay the rest).
chaos: build
	TANDEM_BIN_DIR=$(CURDIR)/$(BIN) TANDEM_CHAOS_DURATION=$${TANDEM_CHAOS_DURATION:-5m} \
		$(GO) test -count=1 -timeout 60m -run '^TestFaultRun$$' -v ./test/e2e/

bench: build
	@missing=""; for p in $(BENCH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	./bench/routing.sh
	./bench/raft.sh
	./bench/drain.sh
	./bench/snmp.sh
	./bench/web.sh
	./bench/backup.sh
	./bench/console.sh
	./bench/sip.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) bench/out
