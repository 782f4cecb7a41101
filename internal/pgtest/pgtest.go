// Package pgtest starts a throwaway, real PostgreSQL server for tests.
//
// It finds the Debian PostgreSQL binaries (/usr/lib/postgresql/<major>/bin,
// or the directory named by $TANDEM_PG_BIN), creates a cluster with initdb
// in a fresh temporary directory, and runs postgres on a free loopback port
// with its unix socket inside that directory. The server is stopped and the
// directory removed in t.Cleanup. Tests can Stop, Kill and Start the server
// again on the same data to exercise outages.
//
// PostgreSQL refuses to run as root. When the test runs as uid 0 (as in CI),
// initdb and postgres run as the "postgres" system user created by the
// Debian package, in a directory that user owns.
//
// The server is tuned for tests: fsync is off (a killed postgres process
// loses nothing, only an OS crash could), synchronous_commit stays on so an
// acknowledged commit survives Kill. Connections from the local socket and
// from 127.0.0.1 as the superuser "postgres" are trusted; any other role
// connecting over TCP must give its password (scram-sha-256), so tests can
// check credential errors.
//
// A missing PostgreSQL installation is a test failure, never a skip: run
// `make test`, which installs it.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the role the server trusts on loopback and the socket.
const Superuser = "postgres"

// Server is one running (or stopped) throwaway PostgreSQL cluster.
type Server struct {
	bin  string // directory holding initdb and postgres
	dir  string // owned by the server's user: data/, sock/, log
	port int
	cred *syscall.Credential // nil: run as the current user

	mu   sync.Mutex
	proc *proc // the running postmaster, nil when stopped
}

// proc is one run of the postmaster.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd.Wait's result, valid once done is closed
}

var dbSeq atomic.Int64

// BinDir returns the directory of the newest installed PostgreSQL's
// server binaries, or an error telling how to install them.
func BinDir() (string, error) {
	if d := os.Getenv("TANDEM_PG_BIN"); d != "" {
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
		return "", fmt.Errorf("pgtest: TANDEM_PG_BIN=%s holds no postgres and initdb", d)
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(matches, func(i, j int) bool { return pgMajor(matches[i]) > pgMajor(matches[j]) })
	for _, m := range matches {
		d := filepath.Dir(m)
		if isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", errors.New("pgtest: PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): run make test (installs postgresql)")
}

func pgMajor(path string) int {
	// /usr/lib/postgresql/<major>/bin/postgres
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start creates and starts a new server; it is stopped and deleted when
// the test ends. Any failure is fatal to the test.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.destroy)
	return s
}

// DSN starts a server for this test and returns the DSN of a fresh, empty
// database on it (owned by the superuser).
func DSN(t testing.TB) string {
	t.Helper()
	return Start(t).NewDatabase(t)
}

func start() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		cred, err := postgresCredential()
		if err != nil {
			return nil, err
		}
		s.cred = cred
	}
	dir, err := os.MkdirTemp(s.baseDir(), "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s.dir = dir
	if err := s.chown(dir); err != nil {
		s.removeDir()
		return nil, err
	}
	if err := s.initdb(); err != nil {
		s.removeDir()
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s.port, err = freePort()
		if err != nil {
			s.removeDir()
			return nil, err
		}
		if lastErr = s.startProcess(); lastErr == nil {
			return s, nil
		}
		if !strings.Contains(lastErr.Error(), "could not bind") && !strings.Contains(lastErr.Error(), "already in use") {
			break
		}
	}
	s.removeDir()
	return nil, lastErr
}

// postgresCredential returns the identity of the Debian "postgres" user.
func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root and there is no postgres system user (%v): run make test (installs postgresql)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// baseDir is where the server's directory is made: the system temporary
// directory, unless the postgres user could not reach it (a TMPDIR inside
// root's home), then /tmp.
func (s *Server) baseDir() string {
	base := os.TempDir()
	if s.cred == nil {
		return base
	}
	for d := base; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == "/" || d == "." {
			return base
		}
	}
}

func (s *Server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=" + s.bin + ":/usr/bin:/bin", "LANG=C", "LC_ALL=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: s.cred,
		// A test binary killed by its timeout must not leave a postmaster
		// behind.
		Pdeathsig: syscall.SIGQUIT,
		Setpgid:   true,
	}
	return cmd
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) sockDir() string { return filepath.Join(s.dir, "sock") }
func (s *Server) logFile() string { return filepath.Join(s.dir, "postgres.log") }

func (s *Server) initdb() error {
	sock := s.sockDir()
	if err := os.Mkdir(sock, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := s.chown(sock); err != nil {
		return err
	}
	cmd := s.command("initdb", "-D", s.dataDir(), "-U", Superuser, "--auth=trust",
		"-E", "UTF8", "--no-locale", "--no-sync")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	hba := "local all all trust\n" +
		"host all " + Superuser + " 127.0.0.1/32 trust\n" +
		"host all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(s.dataDir(), "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return s.chown(filepath.Join(s.dataDir(), "pg_hba.conf"))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startProcess runs postgres on the existing data directory and waits until
// it accepts connections.
func (s *Server) startProcess() error {
	s.mu.Lock()
	if s.proc != nil {
		s.mu.Unlock()
		return errors.New("pgtest: server already running")
	}
	logf, err := os.OpenFile(s.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	cmd := s.command("postgres", "-D", s.dataDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(s.port),
		"-c", "unix_socket_directories="+s.sockDir(),
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "synchronous_commit=on",
		"-c", "max_connections=40",
		"-c", "shared_buffers=128MB",
		"-c", "max_wal_size=2GB",
		"-c", "logging_collector=off",
		"-c", "log_min_messages=warning",
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	start := fileSize(s.logFile())
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.proc = p
	s.mu.Unlock()

	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.socketDSN("postgres"))
		if err == nil {
			conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		select {
		case <-p.done:
			s.mu.Lock()
			s.proc = nil
			s.mu.Unlock()
			return fmt.Errorf("pgtest: postgres exited during start: %v\n%s", p.err, tail(s.logFile(), start))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.signal(syscall.SIGQUIT)
			return fmt.Errorf("pgtest: postgres not ready after 60s: %v\n%s", err, tail(s.logFile(), start))
		}
	}
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func tail(p string, from int64) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	if from <= int64(len(b)) {
		b = b[from:]
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// signal sends sig to the running postmaster and waits for it to exit.
func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	// The postmaster has exited; its children end with it (before it on a
	// clean shutdown). Make sure none is left in its process group.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	s.mu.Lock()
	if s.proc == p {
		s.proc = nil
	}
	s.mu.Unlock()
	return nil
}

// Port is the TCP port the server listens on (127.0.0.1).
func (s *Server) Port() int { return s.port }

// Addr is "127.0.0.1:<port>".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Dir is the server's temporary directory (data/, sock/, postgres.log).
func (s *Server) Dir() string { return s.dir }

// DSN returns a TCP DSN for the superuser on database db ("postgres" when
// empty).
func (s *Server) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, s.port, db)
}

func (s *Server) socketDSN(db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=2",
		s.sockDir(), s.port, Superuser, db)
}

// Exec runs SQL as the superuser on database db ("postgres" when empty).
func (s *Server) Exec(t testing.TB, db, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if db == "" {
		db = "postgres"
	}
	conn, err := pgx.Connect(ctx, s.socketDSN(db))
	if err != nil {
		t.Fatalf("pgtest: connecting to %s: %v", db, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// NewDatabase creates a fresh, empty database and returns its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	return s.CreateDatabase(t, fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1)))
}

// CreateDatabase creates the database name and returns its DSN.
func (s *Server) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	s.Exec(t, "", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return s.DSN(name)
}

// NewRole creates a login role with a password (it must give it: TCP
// logins other than the superuser use scram-sha-256).
func (s *Server) NewRole(t testing.TB, name, password string) {
	t.Helper()
	s.Exec(t, "", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'",
		pgx.Identifier{name}.Sanitize(), strings.ReplaceAll(password, "'", "''")))
}

// Running reports whether the postmaster is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Stop shuts the server down cleanly (fast shutdown: open sessions are
// ended, their transactions rolled back). The data stays; Start resumes it.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
}

// Kill stops the server abruptly (immediate shutdown, as in a crash: it
// recovers from its WAL on the next Start).
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
}

// Start starts a stopped server again on the same data and port.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.startProcess(); err == nil {
			return
		}
		// The port may still be held for a moment by the previous run.
		if !strings.Contains(err.Error(), "could not bind") && !strings.Contains(err.Error(), "already in use") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal(err)
}

// Restart stops the server cleanly and starts it again.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}

func (s *Server) destroy() {
	_ = s.signal(syscall.SIGINT)
	s.removeDir()
}

func (s *Server) removeDir() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// One server shared by the tests of a package (see Main and Shared).
var shared struct {
	sync.Mutex
	main bool // Main is running the tests
	s    *Server
	err  error
}

// Main runs a package's tests (call it from TestMain) and stops the shared
// server afterwards:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	if shared.s != nil {
		shared.s.destroy()
		shared.s = nil
	}
	return code
}

// Shared returns the package's shared server, starting it on first use.
// Tests using it must not stop it; each should work in its own database
// (NewDatabase). It requires TestMain to call Main.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if !shared.main {
		t.Fatal("pgtest.Shared needs TestMain to call pgtest.Main (which stops the server)")
	}
	if shared.s == nil && shared.err == nil {
		shared.s, shared.err = start()
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.s
}
