// Package dovecottest starts a throwaway, real Dovecot IMAP server for
// tests: its own dovecot.conf in a fresh temporary directory, one
// passwd-file user, Maildir storage, listening on a free loopback port,
// run in the foreground (dovecot -c conf -F) as a child process that
// t.Cleanup kills. It never reads or touches the system's /etc/dovecot
// or a system service. With TLS, it makes a test CA and a server
// certificate for 127.0.0.1 and serves IMAP over implicit TLS; with
// StartTLS, the same over STARTTLS; CAFile is the CA to trust. With
// LMTP, it also delivers by LMTP (a free loopback port) to any address,
// a mailbox of its own, and opens an auth socket for an MTA's SASL:
// internal/postfixtest relays into it.
//
// A missing Dovecot is a test failure, never a skip: `make test` installs
// dovecot-imapd and dovecot-lmtpd.
package dovecottest

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tandemcc/tandem/internal/cputime"
)

// Options of a server.
type Options struct {
	// TLS serves implicit TLS (imaps) with a test CA.
	TLS bool
	// StartTLS serves IMAP on which a client must STARTTLS before it logs
	// in, with a test CA (not with TLS).
	StartTLS bool
	// MaxUserIPConnections is mail_max_userip_connections (default 20).
	MaxUserIPConnections int
	// NoIdle removes IDLE from the capabilities (imap_capability), so
	// clients must poll.
	NoIdle bool
	// LMTP adds an LMTP listener on a free loopback port (LMTPPort) that
	// delivers to any address: every address is a mailbox, which logs in
	// over IMAP with Password (DialAs, Messages). It also opens an auth
	// socket for an MTA's SASL (AuthSocket: Postfix's
	// smtpd_sasl_type = dovecot), which accepts User and Password.
	// Needs dovecot-lmtpd.
	LMTP bool
}

// Server is one running (or stopped) Dovecot.
type Server struct {
	Dir      string
	Port     int
	User     string
	Password string
	// CAFile is the PEM of the CA that signed the server's certificate
	// (TLS or StartTLS).
	CAFile   string
	TLS      bool
	StartTLS bool
	// LMTPPort is the LMTP listener's port (Options.LMTP).
	LMTPPort int
	// AuthSocket is the path of the auth socket for an MTA's SASL
	// (Options.LMTP).
	AuthSocket string

	conf string
	t    testing.TB
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Bin is the dovecot binary, or an error saying how to install it.
func Bin() (string, error) {
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/dovecot", "/usr/local/sbin/dovecot"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("dovecottest: dovecot not found: run `make test` (it installs dovecot-imapd) or apt-get install dovecot-imapd")
}

// lmtpBin is Dovecot's LMTP server: dovecot-lmtpd.
const lmtpBin = "/usr/lib/dovecot/lmtp"

// Start writes the configuration and starts Dovecot; the test fails if
// it cannot.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if _, err := Bin(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lmtpBin); o.LMTP && err != nil {
		t.Fatalf("dovecottest: Dovecot's LMTP server %s is missing: run `make test` (it installs dovecot-lmtpd) or apt-get install dovecot-lmtpd", lmtpBin)
	}
	dir, err := os.MkdirTemp("", "dovecottest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Dovecot's unprivileged processes (dovenull, the mail user) must
	// reach their sockets and the mail under it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir, User: "desk@example.org", Password: "Dove-Pass-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		TLS: o.TLS, StartTLS: o.StartTLS, t: t, conf: filepath.Join(dir, "dovecot.conf")}
	s.Port = freePort(t)
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 65534, 65534 // Dovecot refuses root as the mail user
	}
	home := filepath.Join(dir, "home")
	for _, d := range []string{"run", "state", home} {
		if err := os.MkdirAll(filepath.Join(dir, strings.TrimPrefix(d, dir)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(home, uid, gid); err != nil && os.Getuid() == 0 {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(fmt.Sprintf("%s:{PLAIN}%s::::::\n", s.User, s.Password)), 0o644); err != nil {
		t.Fatal(err)
	}
	maxConn := o.MaxUserIPConnections
	if maxConn == 0 {
		maxConn = 20
	}
	ssl := "ssl = no\n"
	listener := fmt.Sprintf("inet_listener imap {\n    address = 127.0.0.1\n    port = %d\n  }\n  inet_listener imaps {\n    port = 0\n  }", s.Port)
	if o.TLS || o.StartTLS {
		// ssl = required: no login before TLS (with StartTLS, before
		// STARTTLS: disable_plaintext_auth's default).
		s.CAFile = writeCerts(t, dir)
		ssl = fmt.Sprintf("ssl = required\nssl_cert = <%s\nssl_key = <%s\n", filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	}
	if o.TLS {
		listener = fmt.Sprintf("inet_listener imap {\n    port = 0\n  }\n  inet_listener imaps {\n    address = 127.0.0.1\n    port = %d\n    ssl = yes\n  }", s.Port)
	}
	protocols, lmtp, passdb, allUsers := "imap", "", "", ""
	if o.LMTP {
		s.LMTPPort = freePort(t)
		s.AuthSocket = filepath.Join(dir, "run", "auth-mta")
		protocols, allUsers = "imap lmtp", " allow_all_users=yes"
		passdb = fmt.Sprintf("passdb {\n  driver = static\n  args = password=%s\n}\n", s.Password)
		lmtp = fmt.Sprintf(`service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %d
  }
}
service auth {
  unix_listener auth-mta {
    mode = 0666
  }
}
postmaster_address = postmaster@example.org
`, s.LMTPPort)
	}
	caps := ""
	if o.NoIdle {
		caps = "imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE\n"
	}
	conf := fmt.Sprintf(`# written by dovecottest: a throwaway test server
protocols = %[10]s
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = dovecottest-%[2]d
log_path = %[1]s/dovecot.log
%[3]sdisable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
%[11]suserdb {
  driver = static
  args = uid=%[4]d gid=%[5]d home=%[6]s/%%u%[12]s
}
%[13]s
mail_location = maildir:~/Maildir
%[8]sprotocol imap {
  mail_max_userip_connections = %[7]d
}
service imap-login {
  chroot =
  %[9]s
}
service anvil {
  chroot =
}
ssl_dh = </usr/share/dovecot/dh.pem
`, dir, s.Port, ssl, uid, gid, home, maxConn, caps, listener, protocols, passdb, allUsers, lmtp)
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is host:port of the IMAP listener.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Start (again) runs Dovecot on the same configuration and waits until it
// accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	bin, _ := Bin()
	s.mu.Lock()
	cmd := exec.Command(bin, "-c", s.conf, "-F")
	out, err := os.OpenFile(filepath.Join(s.Dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.mu.Unlock()
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.t.Fatalf("starting dovecot: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(done) }()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			s.t.Fatalf("dovecot exited at start: %s", s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("dovecot not listening on %s after 20 s: %s", s.Addr(), s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops Dovecot at once (its whole process group) and waits for it.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	// Its children (imap, auth, anvil) share the group; wait until the
	// port is free so a restart can listen again.
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", s.Addr())
		if err == nil {
			l.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CPU is the CPU time the server's processes now running have used:
// the master and the processes it forked (a login, an imap a session),
// which share its process group (cputime.Group). A session's process
// that has ended is not counted.
func (s *Server) CPU() (time.Duration, error) {
	s.mu.Lock()
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	return cputime.Group(pid)
}

// Logs returns Dovecot's log (for failure messages).
func (s *Server) Logs() string {
	a, _ := os.ReadFile(filepath.Join(s.Dir, "dovecot.log"))
	b, _ := os.ReadFile(filepath.Join(s.Dir, "stdout.log"))
	return string(a) + string(b)
}

// LoginsWithoutTLS counts the IMAP logins in the server's log, all and
// those not over TLS, once it shows at least atLeast of them or 10 s
// have passed: imap-login writes its line through the master's log
// process after the client has its OK, so a count read at once can
// miss the last login. Dovecot counts a loopback connection as
// secured, and lets it log in without TLS whatever its ssl setting:
// the log line says "TLS" or "secured".
func (s *Server) LoginsWithoutTLS(atLeast int) (without, all int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		without, all = 0, 0
		for _, line := range strings.Split(s.Logs(), "\n") {
			if !strings.Contains(line, "imap-login: Info: Login: ") {
				continue
			}
			all++
			if !strings.Contains(line, ", TLS,") {
				without++
			}
		}
		if all >= atLeast || time.Now().After(deadline) {
			return without, all
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Dial logs in as the test user.
func (s *Server) Dial() (*imapclient.Client, error) { return s.DialAs(s.User) }

// DialAs logs in as user with Password: the test user, or with LMTP any
// address.
func (s *Server) DialAs(user string) (*imapclient.Client, error) {
	return s.DialWith(user, imapclient.Options{})
}

// DialWith logs in as user with the client options given (their TLS
// configuration replaced by the test CA's when the server has TLS).
func (s *Server) DialWith(user string, opts imapclient.Options) (*imapclient.Client, error) {
	var (
		c   *imapclient.Client
		err error
	)
	if s.TLS || s.StartTLS {
		pool := x509.NewCertPool()
		pem, _ := os.ReadFile(s.CAFile)
		pool.AppendCertsFromPEM(pem)
		opts.TLSConfig = tlsConfig(pool)
		if s.StartTLS {
			c, err = imapclient.DialStartTLS(s.Addr(), &opts)
		} else {
			c, err = imapclient.DialTLS(s.Addr(), &opts)
		}
	} else {
		c, err = imapclient.DialInsecure(s.Addr(), &opts)
	}
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, s.Password).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Append appends a message to mailbox (created when missing) as the test
// user and returns its UID.
func (s *Server) Append(mailbox string, msg []byte) (uint32, error) {
	uids, err := s.AppendMany(mailbox, [][]byte{msg})
	if err != nil {
		return 0, err
	}
	return uids[0], nil
}

// AppendMany appends messages in order over one session and returns their
// UIDs.
func (s *Server) AppendMany(mailbox string, msgs [][]byte) ([]uint32, error) {
	return s.AppendAt(mailbox, time.Time{}, msgs...)
}

// AppendAt is AppendMany with the messages' internal date (the server's
// receipt time) set to at (zero: now).
func (s *Server) AppendAt(mailbox string, at time.Time, msgs ...[]byte) ([]uint32, error) {
	c, err := s.Dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if mailbox != "INBOX" {
		c.Create(mailbox, nil).Wait() // exists already: fine
	}
	var uids []uint32
	for _, msg := range msgs {
		var opts *imap.AppendOptions
		if !at.IsZero() {
			opts = &imap.AppendOptions{Time: at}
		}
		cmd := c.Append(mailbox, int64(len(msg)), opts)
		if _, err := cmd.Write(msg); err != nil {
			return uids, err
		}
		if err := cmd.Close(); err != nil {
			return uids, err
		}
		data, err := cmd.Wait()
		if err != nil {
			return uids, err
		}
		uids = append(uids, uint32(data.UID))
	}
	return uids, c.Logout().Wait()
}

// Count is the number of messages in mailbox.
func (s *Server) Count(mailbox string) (uint32, error) {
	c, err := s.Dial()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	d, err := c.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return 0, err
	}
	return *d.NumMessages, nil
}

// Messages returns the whole of every message in user's mailbox, in UID
// order (with LMTP, what was delivered to that address).
func (s *Server) Messages(user, mailbox string) ([][]byte, error) {
	c, err := s.DialAs(user)
	if err != nil {
		return nil, fmt.Errorf("logging in as %s: %w", user, err)
	}
	defer c.Close()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("selecting %s of %s: %w", mailbox, user, err)
	}
	if sel.NumMessages == 0 {
		return nil, c.Logout().Wait()
	}
	whole := &imap.FetchItemBodySection{Peek: true}
	bufs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{whole}}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetching %s of %s: %w", mailbox, user, err)
	}
	slices.SortFunc(bufs, func(a, b *imapclient.FetchMessageBuffer) int { return cmp.Compare(a.UID, b.UID) })
	var out [][]byte
	for _, b := range bufs {
		out = append(out, b.FindBodySection(whole))
	}
	return out, c.Logout().Wait()
}

// TLSFiles returns the test CA's PEM and a server certificate for
// 127.0.0.1 and its key signed by it (made on the first call when the
// server has no TLS), for another test server beside this one (Postfix).
func (s *Server) TLSFiles() (ca, cert, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ca = filepath.Join(s.Dir, "ca.pem")
	if _, err := os.Stat(ca); err != nil {
		ca = writeCerts(s.t, s.Dir)
	}
	return ca, filepath.Join(s.Dir, "server.pem"), filepath.Join(s.Dir, "server.key")
}

// writeCerts makes a test CA and a certificate for 127.0.0.1 and
// localhost signed by it; it returns the CA's PEM file.
func writeCerts(t testing.TB, dir string) string {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dovecottest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", caDER, 0o644)
	write("server.pem", "CERTIFICATE", der, 0o644)
	write("server.key", "EC PRIVATE KEY", kb, 0o600)
	return filepath.Join(dir, "ca.pem")
}
