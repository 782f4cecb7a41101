// Package e2e holds Tandem's end-to-end tests: they start real tandemd
// processes on loopback, drive them with the real tandemctl binary and the
// admin API, and check what issue #2 promises (one-node start, a three-node
// cluster, forwarding, linearizable reads, failover and catch-up,
// membership changes, forced quorum and the clock-skew alarm), and the
// web console in a real browser.
//
// Environment:
//
//	TANDEM_BIN_DIR          use tandemd and tandemctl from this directory
//	                        (make test sets it); otherwise TestMain builds
//	                        them once into a temporary directory
//	TANDEM_FAILOVER_OUT     append every measured failover, one line
//	                        "failover_ms=<n> round=… killed=… new_leader=…",
//	                        to this file (bench/raft.sh reports them)
//	TANDEM_FAILOVER_ROUNDS  how many times TestFailover kills the leader
//	                        (default 5)
//	TANDEM_E2E_LOGS         dump every node's log even when a test passes
//	TANDEM_E2E_RACE         the binaries are (or, without TANDEM_BIN_DIR,
//	                        are built) with -race: TestMain refuses a
//	                        tandemd without the detector (make race runs
//	                        the SIP tests so); in any run a node whose
//	                        log holds a race report fails its test
//	TANDEM_E2E_ARTIFACTS    write the browser tests' screenshots under
//	                        this directory, one folder a test (make test:
//	                        bench/out/screens); otherwise a new temporary
//	                        directory each, logged
//	TANDEM_CONSOLE_FAILOVER_ROUNDS, TANDEM_CONSOLE_FAILOVER_OUT
//	                        TestConsoleFailoverTime's rounds (default 2)
//	                        and the file its "console_failover_ms=<n> …"
//	                        lines go to (bench/console.sh sets both)
//
// The web console's tests drive Debian's chromium (headless, chromedp);
// make test installs it.
//
// Every process a test starts is killed at cleanup; every wait is a bounded
// poll; a failing test shows the log of each of its nodes.
//
// The tests run one at a time, but for one overlap: after the sequential
// tests, TestMailReplyBurstLeaderKilled (three minutes of waiting on a
// mail provider's 30-a-minute limit) runs beside the tests that call
// besideTheBurst, which take their turns one at a time. They measure
// nothing and assert no timing; the failover figures, the ingestion
// benchmark and the browser and SIP tests stay sequential.
package e2e
