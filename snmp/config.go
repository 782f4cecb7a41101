package snmp

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Flags are tandemd's --snmp-* flags (interfaces.md, "SNMP"). The zero
// Flags is the flags' defaults, and Flags is comparable (tandemd's
// options are). Validate checks them; its errors are one line naming the
// flag.
type Flags struct {
	Addr        Addr    // UDP address of the agent; "" disables it
	Communities List    // SNMPv2c communities; none: no v2c request is answered
	Allow       Allow   // manager hosts (CIDR or IP) answered
	TrapTo      List    // notification destinations, host:port
	TrapProfile Profile // "all" or "noc"
	V3Users     Users   // SNMPv3 USM users (usm.go); none: no v3 request is answered
	TrapV3User  Name    // send notifications in SNMPv3 as this user
	// ExtensionThreshold is the percentage of configured extensions that
	// must be operational, else tandemExtensionsBelowThreshold.
	ExtensionThreshold Threshold
}

// Trap profiles.
const (
	ProfileAll = "all"
	ProfileNOC = "noc"
)

// Defaults of the flags: the agent listens and answers on loopback only.
const (
	DefaultAddr  = "127.0.0.1:1161"
	DefaultAllow = "127.0.0.0/8,::1/128"
	// DefaultExtensionThreshold is --snmp-extension-threshold's default
	// (interfaces.md).
	DefaultExtensionThreshold = 90
)

// Register adds the flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.Var(&f.Addr, "snmp-addr", "SNMP agent UDP address (empty disables the agent)")
	fs.Var(&f.Communities, "snmp-community", "SNMPv2c `COMMUNITY`[,COMMUNITY…], repeatable; without one the agent answers no v2c request; public and private are refused")
	fs.Var(&f.Allow, "snmp-allow", "manager hosts the agent answers, `CIDR`[,CIDR…] (a bare IP is one host); others get no answer")
	fs.Var(&f.TrapTo, "snmp-trap-to", "send SNMPv2c notifications to `HOST:PORT`[,HOST:PORT…], repeatable (sent by the leader, once per cluster)")
	fs.Var(&f.TrapProfile, "snmp-trap-profile", "notifications sent, `all|noc`: every one, or only what the NOC acts on (listed in TANDEM-MIB)")
	fs.Var(&f.V3Users, "snmp-v3-user", "SNMPv3 user `NAME:AUTH:AUTHPASS:PRIV:PRIVPASS`, repeatable: AUTH SHA or SHA256, PRIV AES or AES256, "+
		"each passphrase @FILE (a file holding it; on the command line only @FILE is accepted, literal passphrases belong in --config); "+
		"NAME:AUTH:AUTHPASS allows authNoPriv and NAME alone noAuthNoPriv for that user, nothing else does")
	fs.Var(&f.TrapV3User, "snmp-trap-v3-user", "send the notifications in SNMPv3 as this --snmp-v3-user `NAME` (with its keys, from this node's engine ID)")
	fs.Var(&f.ExtensionThreshold, "snmp-extension-threshold", "`PERCENT` of configured extensions that must be operational (a phone registered), else the leader sends tandemExtensionsBelowThreshold")
}

// setting is a string flag that knows whether it was given.
type setting struct {
	v   string
	set bool
}

func (s setting) or(def string) string {
	if s.set {
		return s.v
	}
	return def
}

// Addr is --snmp-addr: DefaultAddr unless given ("" disables).
type Addr struct{ s setting }

func (a *Addr) String() string { return a.s.or(DefaultAddr) }

// Set implements flag.Value.
func (a *Addr) Set(v string) error { a.s = setting{v, true}; return nil }

// Profile is --snmp-trap-profile: ProfileAll unless given.
type Profile struct{ s setting }

func (p *Profile) String() string { return p.s.or(ProfileAll) }

// Set implements flag.Value.
func (p *Profile) Set(v string) error { p.s = setting{v, true}; return nil }

// Name is a string flag, empty by default.
type Name struct{ s setting }

func (n *Name) String() string { return n.s.v }

// Set implements flag.Value.
func (n *Name) Set(v string) error { n.s = setting{v, true}; return nil }

// Threshold is --snmp-extension-threshold: a percentage, 0 to 100,
// DefaultExtensionThreshold unless given. Set keeps what it is given;
// Validate checks it.
type Threshold struct{ s setting }

func (t *Threshold) String() string { return t.s.or(strconv.Itoa(DefaultExtensionThreshold)) }

// Set implements flag.Value.
func (t *Threshold) Set(v string) error { t.s = setting{strings.TrimSpace(v), true}; return nil }

// List is a repeatable flag of comma-separated values, empty by default.
type List struct{ s setting }

// Values returns the list.
func (l *List) Values() []string {
	var out []string
	for _, v := range strings.Split(l.s.v, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (l *List) String() string { return strings.Join(l.Values(), ",") }

// Set adds the comma-separated values of v.
func (l *List) Set(v string) error {
	if l.s.v != "" {
		v = l.s.v + "," + v
	}
	l.s = setting{v, true}
	return nil
}

// Allow is --snmp-allow: DefaultAllow until a value is given, which
// replaces it.
type Allow struct{ l List }

// Values returns the list.
func (a *Allow) Values() []string {
	if !a.l.s.set {
		return (&List{s: setting{DefaultAllow, true}}).Values()
	}
	return a.l.Values()
}

func (a *Allow) String() string { return strings.Join(a.Values(), ",") }

// Set adds the comma-separated values of v.
func (a *Allow) Set(v string) error { return a.l.Set(v) }

// maxCommunity is the longest community accepted (gosnmp writes the
// community's length in one octet).
const maxCommunity = 127

// Validate checks the flags.
func (f *Flags) Validate() error {
	_, err := f.config()
	return err
}

// config is the validated form of the flags.
type config struct {
	Addr        string
	Communities [][]byte
	Allow       []netip.Prefix
	TrapTo      []string
	TrapProfile string
	Users       []userConfig // SNMPv3 users, passphrases read
	TrapUser    string       // "" sends SNMPv2c notifications
	Threshold   int          // --snmp-extension-threshold, percent
}

func (f *Flags) config() (config, error) {
	var err error
	c := config{Addr: f.Addr.String(), TrapProfile: f.TrapProfile.String()}
	if c.Addr != "" {
		if err := checkHostPort(c.Addr, false); err != nil {
			return c, fmt.Errorf("--snmp-addr: %w", err)
		}
	}
	for _, com := range f.Communities.Values() {
		switch l := strings.ToLower(com); {
		case l == "public" || l == "private":
			return c, fmt.Errorf("--snmp-community: %q is a well-known default community that anyone tries; choose another", l)
		case len(com) > maxCommunity:
			return c, fmt.Errorf("--snmp-community: a community is at most %d octets", maxCommunity)
		}
		for i := 0; i < len(com); i++ {
			if com[i] < 0x21 || com[i] > 0x7e {
				return c, errors.New("--snmp-community: a community is printable ASCII without spaces")
			}
		}
		c.Communities = append(c.Communities, []byte(com))
	}
	for _, a := range f.Allow.Values() {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			ip, ierr := netip.ParseAddr(a)
			if ierr != nil {
				return c, fmt.Errorf("--snmp-allow: %q is not a CIDR (10.0.0.0/8) or an IP address", a)
			}
			p = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		c.Allow = append(c.Allow, p.Masked())
	}
	if len(c.Allow) == 0 {
		return c, errors.New("--snmp-allow: empty: no manager would ever be answered (leave the flag out for loopback only)")
	}
	for _, t := range f.TrapTo.Values() {
		if err := checkHostPort(t, true); err != nil {
			return c, fmt.Errorf("--snmp-trap-to: %w", err)
		}
		c.TrapTo = append(c.TrapTo, t)
	}
	if c.Users, err = f.V3Users.users(); err != nil {
		return c, err
	}
	if c.TrapUser = f.TrapV3User.String(); c.TrapUser != "" {
		found := false
		for _, u := range c.Users {
			found = found || u.name == c.TrapUser
		}
		if !found {
			return c, fmt.Errorf("--snmp-trap-v3-user: %q is not one of the --snmp-v3-user users", c.TrapUser)
		}
		if len(c.TrapTo) == 0 {
			return c, errors.New("--snmp-trap-v3-user: needs --snmp-trap-to")
		}
	}
	if len(c.TrapTo) > 0 && len(c.Communities) == 0 && c.TrapUser == "" {
		return c, errors.New("--snmp-trap-to: SNMPv2c notifications need a community (--snmp-community; the first one is used), or give --snmp-trap-v3-user")
	}
	th, terr := strconv.Atoi(f.ExtensionThreshold.String())
	if terr != nil || th < 0 || th > 100 {
		return c, fmt.Errorf("--snmp-extension-threshold: %q is not a percentage from 0 to 100", f.ExtensionThreshold.String())
	}
	c.Threshold = th
	switch c.TrapProfile {
	case ProfileAll, ProfileNOC:
	default:
		return c, fmt.Errorf("--snmp-trap-profile: %q is neither all nor noc", c.TrapProfile)
	}
	return c, nil
}

// checkHostPort checks host:port; a listener may leave the host empty
// (every interface), a destination may not.
func checkHostPort(v string, needHost bool) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not host:port", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q needs a port from 1 to 65535", v)
	}
	if host == "" && needHost {
		return fmt.Errorf("%q names no host", v)
	}
	return nil
}
