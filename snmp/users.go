package snmp

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gosnmp/gosnmp"
)

// Users is --snmp-v3-user, repeatable: one user per value, not split on
// commas (a passphrase may hold one). Its String names the users and
// their protocols, never a passphrase.
type Users struct{ s setting }

// Set adds one user. It never fails (flag packages quote a refused value
// in their error, and this one may hold passphrases): Validate checks.
func (u *Users) Set(v string) error {
	if u.s.v != "" {
		v = u.s.v + "\n" + v
	}
	u.s = setting{v, true}
	return nil
}

func (u *Users) values() []string {
	if u.s.v == "" {
		return nil
	}
	return strings.Split(u.s.v, "\n")
}

func (u *Users) String() string {
	var out []string
	for _, v := range u.values() {
		parts := strings.SplitN(v, ":", 5)
		switch len(parts) {
		case 5:
			out = append(out, parts[0]+":"+parts[1]+":…:"+parts[3]+":…")
		case 3:
			out = append(out, parts[0]+":"+parts[1]+":…")
		default:
			out = append(out, parts[0])
		}
	}
	return strings.Join(out, ",")
}

// CheckCommandLine refuses passphrases written on the command line, where
// every local user reads them (ps, /proc): there, each passphrase must be
// @FILE. tandemd calls it on the flags parsed from its arguments alone;
// --config and TANDEM_SNMP_V3_USER may hold literal passphrases.
func (u *Users) CheckCommandLine() error {
	for _, v := range u.values() {
		parts := strings.SplitN(v, ":", 5)
		for _, i := range []int{2, 4} {
			if i < len(parts) && !strings.HasPrefix(parts[i], "@") {
				return fmt.Errorf("--snmp-v3-user: user %q: a passphrase on the command line is readable by every local user; "+
					"give @FILE (a file holding it), or the user in --config or TANDEM_SNMP_V3_USER", userLabel(parts[0]))
			}
		}
	}
	return nil
}

// userLabel is a user name fit to quote in an error (a malformed value
// may have a passphrase where the name should be: only a valid name is
// quoted).
func userLabel(name string) string {
	if checkUserName(name) != nil {
		return "(invalid name)"
	}
	return name
}

// USM limits: a user name is an SnmpAdminString of 1 to 32 octets
// (RFC 3414 usmUserName); a passphrase has at least 8 octets (RFC 3414,
// 11.2).
const (
	maxUserName   = 32
	minPassphrase = 8
	maxPassphrase = 1024
)

// userConfig is one validated --snmp-v3-user.
type userConfig struct {
	name               string
	level              gosnmp.SnmpV3MsgFlags // the one level the user may use
	auth               gosnmp.SnmpV3AuthProtocol
	priv               gosnmp.SnmpV3PrivProtocol
	authPass, privPass string
}

func checkUserName(n string) error {
	if n == "" || len(n) > maxUserName {
		return fmt.Errorf("a user name has 1 to %d characters", maxUserName)
	}
	for i := 0; i < len(n); i++ {
		if n[i] < 0x21 || n[i] > 0x7e {
			return errors.New("a user name is printable ASCII without spaces")
		}
	}
	return nil
}

// users parses and checks every user, reading passphrase files. No error
// quotes anything but a valid user name and a file's path.
func (u *Users) users() ([]userConfig, error) {
	var out []userConfig
	seen := map[string]bool{}
	for _, v := range u.values() {
		c, err := parseUser(v)
		if err != nil {
			return nil, fmt.Errorf("--snmp-v3-user: %w", err)
		}
		if seen[c.name] {
			return nil, fmt.Errorf("--snmp-v3-user: user %q given twice", c.name)
		}
		seen[c.name] = true
		out = append(out, c)
	}
	return out, nil
}

func parseUser(v string) (userConfig, error) {
	parts := strings.SplitN(v, ":", 5)
	c := userConfig{name: parts[0], level: gosnmp.NoAuthNoPriv, auth: gosnmp.NoAuth, priv: gosnmp.NoPriv}
	if err := checkUserName(c.name); err != nil {
		return c, errors.New(err.Error() + " (the form is NAME:AUTH:AUTHPASS:PRIV:PRIVPASS)")
	}
	label := fmt.Sprintf("user %q", c.name)
	switch len(parts) {
	case 1:
		return c, nil
	case 3, 5:
	default:
		return c, fmt.Errorf("%s: want NAME:AUTH:AUTHPASS:PRIV:PRIVPASS (authPriv), NAME:AUTH:AUTHPASS (authNoPriv) or NAME (noAuthNoPriv); "+
			"a literal passphrase may not hold ':' (use @FILE)", label)
	}
	switch strings.ToUpper(parts[1]) {
	case "SHA", "SHA1", "SHA-1":
		c.auth = gosnmp.SHA
	case "SHA256", "SHA-256":
		c.auth = gosnmp.SHA256
	default:
		return c, fmt.Errorf("%s: AUTH (the second field) is SHA or SHA256", label)
	}
	var err error
	if c.authPass, err = passphrase(parts[2]); err != nil {
		return c, fmt.Errorf("%s: AUTHPASS: %w", label, err)
	}
	c.level = gosnmp.AuthNoPriv
	if len(parts) == 3 {
		return c, nil
	}
	switch strings.ToUpper(parts[3]) {
	case "AES", "AES128", "AES-128":
		c.priv = gosnmp.AES
	case "AES256", "AES-256":
		c.priv = gosnmp.AES256
	default:
		// The field is not quoted: with a ':' in the passphrase before
		// it, it would be part of that passphrase.
		return c, fmt.Errorf("%s: PRIV (the fourth field) is AES or AES256; a literal AUTHPASS may not hold ':' (use @FILE)", label)
	}
	if c.privPass, err = passphrase(parts[4]); err != nil {
		return c, fmt.Errorf("%s: PRIVPASS: %w", label, err)
	}
	c.level = gosnmp.AuthPriv
	return c, nil
}

// passphrase reads a passphrase field: @FILE is the content of FILE
// without one trailing line break, anything else the passphrase itself.
// Errors never quote it.
func passphrase(field string) (string, error) {
	p := field
	if path, ok := strings.CutPrefix(field, "@"); ok {
		if path == "" {
			return "", errors.New("@ names no file")
		}
		fi, err := os.Stat(path)
		if err != nil {
			return "", err
		}
		if !fi.Mode().IsRegular() || fi.Size() > maxPassphrase+2 {
			return "", fmt.Errorf("%s is not a file of at most %d bytes", path, maxPassphrase)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		p = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	if len(p) < minPassphrase || len(p) > maxPassphrase {
		return "", fmt.Errorf("a passphrase has %d to %d characters", minPassphrase, maxPassphrase)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", errors.New("a passphrase has no control characters")
		}
	}
	return p, nil
}
