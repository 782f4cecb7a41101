package contactcenter

import (
	"fmt"
	"math"
	"reflect"
	"strings"
)

// Mail is the e-mail channel's configuration (mail.md; package mail is the
// IMAP/SMTP edge that reads it). One mailbox on the corporate mail server
// holds the customers' mail; aliases (the public addresses that lead to
// it) select the queue. Absent, the channel is off.
//
// The passwords are write-only: Config.Document shows them as
// MailPasswordRedacted, which an apply resolves to the current password,
// and no event, result or error carries them (MailEvent).
type Mail struct {
	IMAP MailIMAP `yaml:"imap" json:"imap"`
	SMTP MailSMTP `yaml:"smtp" json:"smtp,omitzero"`
	// Aliases map the addresses a customer writes to onto a queue (and
	// its business unit). A message to no alias goes to the first.
	Aliases []MailAlias `yaml:"aliases" json:"aliases"`
	// RetentionDays is how long a handled message stays in the mailbox
	// before the channel expunges it (default 30).
	RetentionDays int `yaml:"retention_days" json:"retention_days"`
	// CAFile is a PEM file of the certificate authorities the channel
	// trusts for IMAP and SMTP over TLS, beside the system's.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// BlockedSenders are the senders whose messages are recorded but
	// never routed (mail.skipped, reason blocked): an address
	// (spam@example.net) or a domain (example.net or @example.net), which
	// also blocks its subdomains. Kept in lower case.
	BlockedSenders []string `yaml:"blocked_senders" json:"blocked_senders,omitempty"`
	// Verdicts are the headers of the operator's own mail filters by
	// which a message is recorded but never routed, beside the standard
	// ones the channel always reads (SpamAssassin's, Rspamd's,
	// clamav-milter's).
	Verdicts []MailVerdict `yaml:"verdict_headers" json:"verdict_headers,omitempty"`
}

// MailVerdict is one verdict header: a message with a field Header whose
// value starts with Value (compared without case, followed by nothing or
// not a letter), or, with AtLeast instead, whose value starts with a
// score at least AtLeast (as X-Spam-Score: 7.2, or Exchange's SCL 0–9),
// is skipped with Reason, spam or virus.
type MailVerdict struct {
	Header  string  `yaml:"header" json:"header"`
	Value   string  `yaml:"value" json:"value,omitempty"`
	AtLeast float64 `yaml:"at_least" json:"at_least,omitempty"`
	Reason  string  `yaml:"reason" json:"reason"`
}

// MailIMAP is where the mailbox is and how to reach it.
type MailIMAP struct {
	Host string `yaml:"host" json:"host"`
	// Port defaults by TLS mode: 993 (implicit), 143 (starttls, none).
	Port int `yaml:"port" json:"port"`
	// TLS is "implicit", "starttls" or "none" (default "implicit").
	TLS      string `yaml:"tls" json:"tls"`
	User     string `yaml:"user" json:"user"`
	Password string `yaml:"password" json:"password"`
	// Mailbox is the folder watched (default "INBOX").
	Mailbox string `yaml:"mailbox" json:"mailbox"`
	// MaxSessions is the ceiling of simultaneous IMAP connections the
	// account allows, of which ReservedSessions are left to the
	// provider's own work: the channel opens at most MaxSessions -
	// ReservedSessions (default 5 and 0).
	MaxSessions      int `yaml:"max_sessions" json:"max_sessions"`
	ReservedSessions int `yaml:"reserved_sessions" json:"reserved_sessions,omitempty"`
	// PollSeconds is the polling interval when the server has no IDLE,
	// and the longest an IDLE lasts before it is renewed (default 60).
	PollSeconds int `yaml:"poll_seconds" json:"poll_seconds"`
}

// MailSMTP is where replies are sent. Authentication is optional.
type MailSMTP struct {
	Host string `yaml:"host" json:"host,omitempty"`
	// Port defaults by TLS mode: 465 (implicit), 587 (starttls), 25 (none).
	Port     int    `yaml:"port" json:"port,omitempty"`
	TLS      string `yaml:"tls" json:"tls,omitempty"`
	User     string `yaml:"user" json:"user,omitempty"`
	Password string `yaml:"password" json:"password,omitempty"`
	// MessagesPerMinute is the provider's sending limit (default 30).
	MessagesPerMinute int `yaml:"messages_per_minute" json:"messages_per_minute,omitempty"`
}

// MailAlias is one public address of the mailbox.
type MailAlias struct {
	Address      string `yaml:"address" json:"address"`
	BusinessUnit string `yaml:"business_unit" json:"business_unit,omitempty"`
	Queue        string `yaml:"queue" json:"queue"`
}

// Mail TLS modes.
const (
	MailTLSImplicit = "implicit"
	MailTLSStartTLS = "starttls"
	MailTLSNone     = "none"
)

// MailTLSModes are the TLS modes of IMAP and SMTP.
var MailTLSModes = []string{MailTLSImplicit, MailTLSStartTLS, MailTLSNone}

// Limits and defaults of the mail settings.
const (
	DefaultMailSessions      = 5
	MaxMailSessions          = 1000
	DefaultMailPollSeconds   = 60
	DefaultMailRetentionDays = 30
	DefaultMailPerMinute     = 30
	MaxMailAliases           = 1000
	// MaxMailBlockedSenders bounds mail.blocked_senders (each message's
	// sender is compared with every entry).
	MaxMailBlockedSenders = 1000
	// MaxMailVerdicts bounds mail.verdict_headers.
	MaxMailVerdicts = 20
	// MaxMailPasswordLen bounds the IMAP and SMTP passwords.
	MaxMailPasswordLen = 256
	// MaxPathLen bounds file paths (the CA file).
	MaxPathLen = 4096
	// MaxHostLen bounds host names (RFC 1035).
	MaxHostLen = 253
	// MaxMailboxLen bounds the IMAP mailbox (folder) name.
	MaxMailboxLen = 255
)

// MailPasswordRedacted stands for a mail password wherever the
// configuration is shown. Applied back it keeps the current password; a
// channel without one cannot be given it.
const MailPasswordRedacted = "redacted"

// EvConfigMailUpdated and EvConfigMailRemoved tell that the mail settings
// were set or changed (MailEvent), or removed.
const (
	EvConfigMailUpdated = "config.mail.updated"
	EvConfigMailRemoved = "config.mail.removed"
)

// MailEvent is the data of config.mail.updated: the settings with the
// passwords left out, and whether each is set.
type MailEvent struct {
	Mail
	IMAPPasswordSet bool `json:"imap_password_set"`
	SMTPPasswordSet bool `json:"smtp_password_set"`
}

func mailEvent(m Mail) MailEvent {
	ev := MailEvent{Mail: m.clone(), IMAPPasswordSet: m.IMAP.Password != "", SMTPPasswordSet: m.SMTP.Password != ""}
	ev.IMAP.Password, ev.SMTP.Password = "", ""
	return ev
}

// clone copies m (its lists are its own).
func (m Mail) clone() Mail {
	m.Aliases = append([]MailAlias(nil), m.Aliases...)
	m.BlockedSenders = append([]string(nil), m.BlockedSenders...)
	m.Verdicts = append([]MailVerdict(nil), m.Verdicts...)
	return m
}

// Blocks tells whether mail from the address from is blocked: an entry of
// BlockedSenders names it, or its domain or a parent of its domain
// (compared without case; an empty address is never blocked).
func (m *Mail) Blocks(from string) bool {
	if m == nil || len(m.BlockedSenders) == 0 || from == "" {
		return false
	}
	at := strings.LastIndexByte(from, '@')
	domain := from[at+1:]
	for _, b := range m.BlockedSenders {
		if strings.IndexByte(b, '@') >= 0 {
			if strings.EqualFold(from, b) {
				return true
			}
			continue
		}
		if len(domain) == len(b) && strings.EqualFold(domain, b) {
			return true
		}
		if n := len(domain) - len(b); n > 1 && domain[n-1] == '.' && strings.EqualFold(domain[n:], b) {
			return true
		}
	}
	return false
}

// redacted is m as the configuration shows it.
func (m Mail) redacted() Mail {
	m = m.clone()
	if m.IMAP.Password != "" {
		m.IMAP.Password = MailPasswordRedacted
	}
	if m.SMTP.Password != "" {
		m.SMTP.Password = MailPasswordRedacted
	}
	return m
}

// AliasFor is the alias a message to the addresses rcpt belongs to: the
// first alias (in configured order) any of them names, compared without
// case; the first alias when none does.
func (m Mail) AliasFor(rcpt []string) MailAlias {
	for _, a := range m.Aliases {
		for _, r := range rcpt {
			if strings.EqualFold(strings.TrimSpace(r), a.Address) {
				return a
			}
		}
	}
	if len(m.Aliases) == 0 {
		return MailAlias{}
	}
	return m.Aliases[0]
}

// checkMail checks and completes the mail settings (defaults filled). The
// IMAP host, user and password are mandatory.
func checkMail(m Mail) (Mail, error) {
	m = m.clone()
	im := &m.IMAP
	if im.Host == "" {
		return Mail{}, fieldErr("mail.imap.host", "required: the IMAP server's host name")
	}
	if err := checkHost("mail.imap.host", im.Host); err != nil {
		return Mail{}, err
	}
	if im.TLS == "" {
		im.TLS = MailTLSImplicit
	}
	if !contains(MailTLSModes, im.TLS) {
		return Mail{}, fieldErr("mail.imap.tls", "unknown TLS mode %q (one of %s)", im.TLS, strings.Join(MailTLSModes, ", "))
	}
	if im.Port == 0 {
		im.Port = 143
		if im.TLS == MailTLSImplicit {
			im.Port = 993
		}
	}
	if im.Port < 1 || im.Port > 65535 {
		return Mail{}, fieldErr("mail.imap.port", "%d is out of range 1..65535", im.Port)
	}
	if im.User == "" {
		return Mail{}, fieldErr("mail.imap.user", "required: IMAP authentication is mandatory")
	}
	if im.Password == "" {
		return Mail{}, fieldErr("mail.imap.password", "required: IMAP authentication is mandatory")
	}
	if im.Mailbox == "" {
		im.Mailbox = "INBOX"
	}
	if im.MaxSessions == 0 {
		im.MaxSessions = DefaultMailSessions
	}
	if im.MaxSessions < 1 || im.MaxSessions > MaxMailSessions {
		return Mail{}, fieldErr("mail.imap.max_sessions", "%d is out of range 1..%d", im.MaxSessions, MaxMailSessions)
	}
	if im.ReservedSessions < 0 || im.ReservedSessions >= im.MaxSessions {
		return Mail{}, fieldErr("mail.imap.reserved_sessions", "%d is out of range 0..%d (fewer than max_sessions)", im.ReservedSessions, im.MaxSessions-1)
	}
	if im.PollSeconds == 0 {
		im.PollSeconds = DefaultMailPollSeconds
	}
	if im.PollSeconds < 1 || im.PollSeconds > 3600 {
		return Mail{}, fieldErr("mail.imap.poll_seconds", "%d is out of range 1..3600", im.PollSeconds)
	}
	sm := &m.SMTP
	if sm.Host != "" {
		if err := checkHost("mail.smtp.host", sm.Host); err != nil {
			return Mail{}, err
		}
		if sm.TLS == "" {
			sm.TLS = MailTLSStartTLS
		}
		if !contains(MailTLSModes, sm.TLS) {
			return Mail{}, fieldErr("mail.smtp.tls", "unknown TLS mode %q (one of %s)", sm.TLS, strings.Join(MailTLSModes, ", "))
		}
		if sm.Port == 0 {
			sm.Port = map[string]int{MailTLSImplicit: 465, MailTLSStartTLS: 587, MailTLSNone: 25}[sm.TLS]
		}
		if sm.MessagesPerMinute == 0 {
			sm.MessagesPerMinute = DefaultMailPerMinute
		}
	} else if *sm != (MailSMTP{}) {
		return Mail{}, fieldErr("mail.smtp.host", "required when other SMTP settings are given")
	}
	if sm.Port < 0 || sm.Port > 65535 {
		return Mail{}, fieldErr("mail.smtp.port", "%d is out of range 1..65535", sm.Port)
	}
	if sm.Password != "" && sm.User == "" {
		return Mail{}, fieldErr("mail.smtp.user", "required with a password")
	}
	if sm.MessagesPerMinute < 0 || sm.MessagesPerMinute > 100000 {
		return Mail{}, fieldErr("mail.smtp.messages_per_minute", "%d is out of range 1..100000", sm.MessagesPerMinute)
	}
	if len(m.Aliases) == 0 {
		return Mail{}, fieldErr("mail.aliases", "required: at least one address and its queue")
	}
	if len(m.Aliases) > MaxMailAliases {
		return Mail{}, fieldErr("mail.aliases", "%d aliases, at most %d", len(m.Aliases), MaxMailAliases)
	}
	seen := map[string]bool{}
	for i, a := range m.Aliases {
		f := fmt.Sprintf("mail.aliases[%d]", i)
		if !plausibleAddress(a.Address) {
			return Mail{}, fieldErr(f+".address", "%q is not an e-mail address", a.Address)
		}
		key := strings.ToLower(a.Address)
		if seen[key] {
			return Mail{}, fieldErr(f+".address", "duplicate %q in this document", a.Address)
		}
		seen[key] = true
		if err := checkID(f+".queue", a.Queue); err != nil {
			return Mail{}, err
		}
		if a.BusinessUnit != "" {
			if err := checkID(f+".business_unit", a.BusinessUnit); err != nil {
				return Mail{}, err
			}
		}
	}
	if len(m.BlockedSenders) > MaxMailBlockedSenders {
		return Mail{}, fieldErr("mail.blocked_senders", "%d entries, at most %d", len(m.BlockedSenders), MaxMailBlockedSenders)
	}
	blocked := map[string]bool{}
	for i, b := range m.BlockedSenders {
		f := fmt.Sprintf("mail.blocked_senders[%d]", i)
		b = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(b), "@"))
		if strings.IndexByte(b, '@') >= 0 {
			if !plausibleAddress(b) {
				return Mail{}, fieldErr(f, "%q is not an e-mail address", m.BlockedSenders[i])
			}
		} else if !plausibleDomain(b) {
			return Mail{}, fieldErr(f, "%q is neither an e-mail address nor a domain", m.BlockedSenders[i])
		}
		if blocked[b] {
			return Mail{}, fieldErr(f, "duplicate %q in this document", m.BlockedSenders[i])
		}
		blocked[b] = true
		m.BlockedSenders[i] = b
	}
	if len(m.Verdicts) > MaxMailVerdicts {
		return Mail{}, fieldErr("mail.verdict_headers", "%d rules, at most %d", len(m.Verdicts), MaxMailVerdicts)
	}
	for i, v := range m.Verdicts {
		f := fmt.Sprintf("mail.verdict_headers[%d]", i)
		if !headerName(v.Header) {
			return Mail{}, fieldErr(f+".header", "%q is not a header field name (1-%d of A-Z a-z 0-9 -)", v.Header, MaxKeywordLen*2)
		}
		switch word := strings.TrimSpace(v.Value); {
		case word == "" && v.AtLeast == 0:
			return Mail{}, fieldErr(f+".value", "required: the verdict's word, e.g. YES (or at_least: a score)")
		case word != "" && v.AtLeast != 0:
			return Mail{}, fieldErr(f+".at_least", "a rule reads a word (value) or a score (at_least), not both")
		case math.IsNaN(v.AtLeast) || math.IsInf(v.AtLeast, 0):
			return Mail{}, fieldErr(f+".at_least", "not a number")
		}
		if v.Reason != MailSkipSpam && v.Reason != MailSkipVirus {
			return Mail{}, fieldErr(f+".reason", "%q is not a reason (spam or virus)", v.Reason)
		}
		m.Verdicts[i].Value = strings.TrimSpace(v.Value)
	}
	if m.RetentionDays == 0 {
		m.RetentionDays = DefaultMailRetentionDays
	}
	if m.RetentionDays < 1 || m.RetentionDays > MaxRetentionDays {
		return Mail{}, fieldErr("mail.retention_days", "%d is out of range 1..%d", m.RetentionDays, MaxRetentionDays)
	}
	return m, nil
}

// checkHost accepts a DNS name or an IP address literal (no spaces, no
// scheme, no port).
func checkHost(field, h string) error {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return fieldErr(field, "%q is not a host name or address", h)
		}
	}
	return nil
}

// plausibleAddress: local@domain, no spaces or angle brackets.
func plausibleAddress(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at == len(s)-1 || len(s) > MaxEmailLen {
		return false
	}
	return !strings.ContainsAny(s, " \t<>\"(),;")
}

// headerName: a message header field's name as filters write them.
func headerName(s string) bool {
	if s == "" || len(s) > MaxKeywordLen*2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// plausibleDomain: dot-separated labels of letters, digits and hyphens,
// none empty or starting or ending with a hyphen.
func plausibleDomain(s string) bool {
	if s == "" || len(s) > MaxHostLen {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// keepMailPasswords resolves MailPasswordRedacted: next keeps the
// password cur has.
func keepMailPasswords(cur Config, next *Config, d Document) error {
	if d.Mail == nil || next.Mail == nil {
		return nil
	}
	m := next.Mail
	if m.IMAP.Password == MailPasswordRedacted {
		if cur.Mail == nil || cur.Mail.IMAP.Password == "" {
			return fieldErr("mail.imap.password", "%q keeps the current password, and none is set: give the password", MailPasswordRedacted)
		}
		m.IMAP.Password = cur.Mail.IMAP.Password
	}
	if m.SMTP.Password == MailPasswordRedacted {
		if cur.Mail == nil || cur.Mail.SMTP.Password == "" {
			return fieldErr("mail.smtp.password", "%q keeps the current password, and none is set: give the password", MailPasswordRedacted)
		}
		m.SMTP.Password = cur.Mail.SMTP.Password
	}
	return nil
}

// checkMailRefs: every alias's queue and business unit exist.
func checkMailRefs(c Config) error {
	if c.Mail == nil {
		return nil
	}
	for i, a := range c.Mail.Aliases {
		if _, ok := c.Queues[a.Queue]; !ok {
			return fieldErr(fmt.Sprintf("mail.aliases[%d].queue", i), "unknown queue %q", a.Queue)
		}
		if _, ok := c.BusinessUnits[a.BusinessUnit]; a.BusinessUnit != "" && !ok {
			return fieldErr(fmt.Sprintf("mail.aliases[%d].business_unit", i), "unknown business unit %q", a.BusinessUnit)
		}
	}
	return nil
}

// diffMail emits the mail settings' event when they changed.
func diffMail(r *ApplyResult, em eventSink, old, next *Mail) {
	switch {
	case old == nil && next == nil:
	case next == nil:
		r.Removed++
		em.Emit(EvConfigMailRemoved, nil)
	case old == nil:
		r.Created++
		em.Emit(EvConfigMailUpdated, mailEvent(*next))
	case !reflect.DeepEqual(*old, *next):
		r.Updated++
		em.Emit(EvConfigMailUpdated, mailEvent(*next))
	default:
		r.Unchanged++
	}
}
