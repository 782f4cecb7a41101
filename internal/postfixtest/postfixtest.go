// Package postfixtest starts a throwaway, real Postfix for tests: its own
// main.cf and master.cf in a fresh temporary directory with its own queue
// and data directories, one smtpd on a free loopback port requiring
// STARTTLS with the test CA's certificate of a dovecottest server, and
// every message relayed by LMTP into that Dovecot (dovecottest's LMTP
// option), where each recipient address is a mailbox the test reads over
// IMAP. With Auth, relaying needs SMTP AUTH, checked by Dovecot's auth
// socket (smtpd_sasl_type = dovecot) against the Dovecot test user.
//
// Postfix runs in the foreground (postfix -c DIR start-fg) as a child
// process; t.Cleanup stops it (postfix abort) and kills its master's
// process group. It never reads or touches /etc/postfix's main.cf or the
// system's Postfix. It runs as root (Postfix's master must), as `make
// test` does.
//
// A missing Postfix is a test failure, never a skip: `make test` installs
// postfix.
package postfixtest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemcc/tandem/internal/dovecottest"
)

// Options of a server.
type Options struct {
	// Dovecot is where messages are delivered (over LMTP; started with
	// dovecottest.Options{LMTP: true}) and whose test CA signs the
	// certificate smtpd offers.
	Dovecot *dovecottest.Server
	// Auth makes relaying need SMTP AUTH (after STARTTLS) as the Dovecot
	// test user (User, Password); without it any loopback client may
	// relay.
	Auth bool
}

// Server is one running Postfix.
type Server struct {
	Dir  string
	Port int
	// CAFile is the PEM of the CA that signed smtpd's certificate.
	CAFile string
	// User and Password log in to SMTP AUTH (Options.Auth).
	User, Password string

	conf string
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
}

// Bin is the postfix command, or an error saying how to install it.
func Bin() (string, error) {
	if p, err := exec.LookPath("postfix"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/postfix", "/usr/local/sbin/postfix"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("postfixtest: postfix not found: run `make test` (it installs postfix) or apt-get install postfix")
}

// Start writes the configuration and starts Postfix; the test fails if it
// cannot.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := Bin()
	if err != nil {
		t.Fatal(err)
	}
	if o.Dovecot == nil || o.Dovecot.LMTPPort == 0 {
		t.Fatal("postfixtest: Options.Dovecot must be a dovecottest server started with LMTP")
	}
	if os.Getuid() != 0 {
		t.Fatal("postfixtest: Postfix's master runs as root: run the tests as root (as `make test` does in CI)")
	}
	owner, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("postfixtest: no postfix user (the postfix package makes it): %v", err)
	}
	ownerUID, _ := strconv.Atoi(owner.Uid)
	dir, err := os.MkdirTemp("", "postfixtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Postfix's daemons run as the postfix user: they must reach the
	// queue and data directories under dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"etc", "queue", "data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(dir, "data"), ownerUID, -1); err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir, t: t, conf: filepath.Join(dir, "etc")}
	s.Port = freePort(t)
	ca, cert, key := o.Dovecot.TLSFiles()
	s.CAFile = ca
	relay := "permit_mynetworks, reject"
	if o.Auth {
		s.User, s.Password = o.Dovecot.User, o.Dovecot.Password
		relay = "permit_sasl_authenticated, reject"
	}
	lmtp := fmt.Sprintf("lmtp:inet:127.0.0.1:%d", o.Dovecot.LMTPPort)
	mainCF := fmt.Sprintf(`# written by postfixtest: a throwaway test server
compatibility_level = 3.6
config_directory = %[1]s/etc
queue_directory = %[1]s/queue
data_directory = %[1]s/data
maillog_file = %[1]s/postfix.log
maillog_file_prefixes = %[1]s
mail_owner = postfix
setgid_group = postdrop
myhostname = postfixtest.localdomain
mydomain = localdomain
myorigin = localdomain
mydestination =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = %[2]s
default_transport = %[3]s
relay_transport = %[3]s
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_tls_security_level = encrypt
smtpd_tls_cert_file = %[4]s
smtpd_tls_key_file = %[5]s
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = %[6]s
smtpd_tls_received_header = yes
biff = no
`, dir, relay, lmtp, cert, key, o.Dovecot.AuthSocket)
	masterCF := fmt.Sprintf(`# written by postfixtest: no chroot, one smtpd on a loopback port
127.0.0.1:%d inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`, s.Port)
	for name, text := range map[string]string{"main.cf": mainCF, "master.cf": masterCF} {
		if err := os.WriteFile(filepath.Join(s.conf, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// postfix check makes the queue's directories with their owners.
	if out, err := s.postfix(bin, "check"); err != nil {
		t.Fatalf("postfix check: %v: %s%s", err, out, s.Logs())
	}
	cmd := exec.Command(bin, "-c", s.conf, "start-fg")
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting postfix: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(s.done) }()
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			// Accepting is not enough: smtpd greets once master runs it.
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "220 ") {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("postfix exited at start: %s", s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("postfix not greeting on %s after 20 s: %s", s.Addr(), s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postfix runs the postfix command on this instance's configuration,
// bounded in time.
func (s *Server) postfix(bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-c", s.conf}, args...)...)
	cmd.WaitDelay = time.Second
	return cmd.CombinedOutput()
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is host:port of smtpd.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Stop stops Postfix at once (postfix abort; if it has not stopped
// within 10 s, its master's whole process group and the start-fg
// command's are killed) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	defer func() { s.cmd = nil }()
	bin, _ := Bin()
	master := s.masterPID()
	s.postfix(bin, "abort")
	select {
	case <-s.done: // start-fg returns when the master has stopped
		return
	case <-time.After(10 * time.Second):
	}
	if master > 0 {
		// The master runs in its own session (setsid): its group holds
		// every daemon it started.
		syscall.Kill(-master, syscall.SIGKILL)
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("postfixtest: postfix (pid %d, master %d) still running 20 s after abort", s.cmd.Process.Pid, master)
	}
	s.cmd = nil
}

// masterPID is the master daemon's pid from its pid file (0 if none).
func (s *Server) masterPID() int {
	b, err := os.ReadFile(filepath.Join(s.Dir, "queue", "pid", "master.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Logs returns Postfix's log (for failure messages).
func (s *Server) Logs() string {
	a, _ := os.ReadFile(filepath.Join(s.Dir, "postfix.log"))
	b, _ := os.ReadFile(filepath.Join(s.Dir, "stdout.log"))
	return string(a) + string(b)
}

var receivedBy = regexp.MustCompile(`(?s)by postfixtest\.localdomain .*?;\s*(.+)$`)

// ReceivedAt is the time this Postfix's smtpd received message (the date
// of its Received: header, to the second), or an error if the message
// has none.
func ReceivedAt(message []byte) (time.Time, error) {
	header, _, _ := strings.Cut(strings.ReplaceAll(string(message), "\r\n", "\n"), "\n\n")
	// Unfold, then look at each Received: field.
	header = strings.NewReplacer("\n ", " ", "\n\t", " ").Replace(header)
	for _, line := range strings.Split(header, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(name, "Received") {
			continue
		}
		m := receivedBy.FindStringSubmatch(value)
		if m == nil {
			continue
		}
		date := strings.TrimSpace(m[1])
		if i := strings.Index(date, " ("); i > 0 { // "(UTC)"
			date = date[:i]
		}
		at, err := time.Parse("Mon, _2 Jan 2006 15:04:05 -0700", date)
		if err != nil {
			return time.Time{}, fmt.Errorf("postfixtest: Received: date %q: %w", date, err)
		}
		return at, nil
	}
	return time.Time{}, fmt.Errorf("postfixtest: no Received: header of postfixtest.localdomain")
}
