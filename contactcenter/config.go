package contactcenter

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/jsonin"
)

// Document is a declarative configuration as administrators write it
// (tandemctl apply -f config.yaml). Every entity is keyed by its ID (an
// extension by its number); applying a document upserts the entities it
// names. With Prune, entities of the engine that the document does not name
// are removed, so the document becomes the whole configuration.
//
// Limits (DESIGN.md, "Limits of input"; limits.go, parse.go): a document
// is at most 2 MiB of YAML or JSON without YAML aliases, at most 500,000
// values; IDs are at most 64 bytes (MaxIDLen), names 128 (MaxNameLen),
// speed-dial labels 64, phone numbers 64, e-mail addresses 254, keywords
// (strategy, kind, …) 32; names and texts hold no control characters and
// no bidirectional overrides or isolates (U+202A–U+202E, U+2066–U+2069).
type Document struct {
	BusinessUnits []BusinessUnit `yaml:"business_units" json:"business_units,omitempty"`
	Users         []User         `yaml:"users" json:"users,omitempty"`
	Extensions    []Extension    `yaml:"extensions" json:"extensions,omitempty"`
	Queues        []Queue        `yaml:"queues" json:"queues,omitempty"`
	Agents        []Agent        `yaml:"agents" json:"agents,omitempty"`
	// Settings replaces the engine-wide settings when present; absent, the
	// current settings stay (or, with Prune, return to the defaults).
	Settings     *Settings     `yaml:"settings" json:"settings,omitempty"`
	PauseReasons []PauseReason `yaml:"pause_reasons" json:"pause_reasons,omitempty"`
	Contacts     []Contact     `yaml:"contacts" json:"contacts,omitempty"`
	// ExcludedNumbers are phone numbers the contact center must not call
	// back (web callback error 17031). Each is stored normalised
	// (Settings.CanonicalNumber) and matched exactly, not as a prefix.
	ExcludedNumbers []string `yaml:"excluded_numbers" json:"excluded_numbers,omitempty"`
	// Callbacks is the callback routing schedule (callback_config.go);
	// present, it replaces the current one (with Prune, absent removes
	// it).
	Callbacks *CallbackSettings `yaml:"callbacks" json:"callbacks,omitempty"`
	// Mail is the e-mail channel's settings (mailconfig.go); absent, the
	// current settings stay (or, with Prune, the channel is off).
	Mail *Mail `yaml:"mail" json:"mail,omitempty"`
	// Chat is the web chat section (chat.go): the chat languages and the
	// default chat queue; present, it replaces the current one.
	Chat *ChatSettings `yaml:"chat" json:"chat,omitempty"`
}

// Settings are the engine-wide operating parameters. Zero fields take
// their defaults (DefaultSettings).
type Settings struct {
	// RingTimeoutSeconds is how long an offer rings on an agent before it
	// counts as unanswered (a queue may override it).
	RingTimeoutSeconds int `yaml:"ring_timeout_seconds" json:"ring_timeout_seconds"`
	// AutoReturnSeconds is how long a call stays in supervision (blind
	// transfer not answered, camp-on, chain ringing) before it returns to
	// its operator's personal queue.
	AutoReturnSeconds int `yaml:"auto_return_seconds" json:"auto_return_seconds"`
	// ParkReturnSeconds is the same limit for parked calls (park and
	// directed park).
	ParkReturnSeconds int `yaml:"park_return_seconds" json:"park_return_seconds"`
	// InternalNumberLength: a number of this many digits is internal
	// (CTI rule; default 4).
	InternalNumberLength int `yaml:"internal_number_length" json:"internal_number_length"`
	// OutsideLinePrefix is dialled before external numbers (e.g. "9");
	// stored numbers starting with it are normalised without it (CTI).
	OutsideLinePrefix string `yaml:"outside_line_prefix" json:"outside_line_prefix,omitempty"`
	// DefaultCountryCode (e.g. "44") and DefaultAreaCode (e.g. "161",
	// without the national prefix) complete national and local numbers
	// to E.164 (CTI). Empty: unknown, such numbers stay as digits.
	DefaultCountryCode string `yaml:"default_country_code" json:"default_country_code,omitempty"`
	DefaultAreaCode    string `yaml:"default_area_code" json:"default_area_code,omitempty"`
	// DirectoryFields are the fields "search all" looks in.
	DirectoryFields []string `yaml:"directory_fields" json:"directory_fields"`
	// DirectorySearch are the console's directory search fields, in the
	// order shown: each searches one field (or "all": DirectoryFields)
	// and is shown with its label, filled in with its default value.
	// Empty: the console has only its number/search-as-you-type field.
	DirectorySearch []DirectorySearchField `yaml:"directory_search" json:"directory_search,omitempty"`
	// Retention is how long the cluster keeps each kind of history, and
	// MaintenanceTime ("HH:MM", UTC) the daily data-maintenance hour that
	// applies it (maintenance.go).
	Retention       Retention `yaml:"retention" json:"retention"`
	MaintenanceTime string    `yaml:"maintenance_time" json:"maintenance_time"`
	// PhoneSecrets is the secure phones' password schedule (rotation,
	// expiry, grace of a replaced password; phonepass.go).
	PhoneSecrets PhoneSecretSettings `yaml:"phone_secrets" json:"phone_secrets"`
	// SIPServers ("host:port", at most 8) are the SIP servers phones are
	// provisioned to register with: the cluster's floating address, or
	// its members' --sip-addr (phonepass.go).
	SIPServers []string `yaml:"sip_servers" json:"sip_servers,omitempty"`
}

// DirectorySearchField is one of the console's directory search fields.
type DirectorySearchField struct {
	// Field is one of DirectoryFieldNames, or DirectorySearchAll.
	Field string `yaml:"field" json:"field"`
	// Label is what the console shows beside it (1..MaxLabelLen bytes).
	Label string `yaml:"label" json:"label"`
	// Default is the value it is filled in with (may be empty).
	Default string `yaml:"default" json:"default,omitempty"`
}

// DirectorySearchAll is the search field that looks in every one of
// Settings.DirectoryFields ("search all").
const DirectorySearchAll = "all"

// MaxDirectorySearchFields bounds settings.directory_search: each field
// once, and "all".
const MaxDirectorySearchFields = 8

// checkDirectorySearch checks settings.directory_search: known fields,
// each once, each with a label. The texts' lengths and characters are
// the edge's (limits.go: label a label, default a name).
func checkDirectorySearch(fields []DirectorySearchField) error {
	if len(fields) > MaxDirectorySearchFields {
		return fieldErr("settings.directory_search", "%d search fields, at most %d", len(fields), MaxDirectorySearchFields)
	}
	seen := map[string]bool{}
	for i, f := range fields {
		name := fmt.Sprintf("settings.directory_search[%d]", i)
		if f.Field != DirectorySearchAll && !contains(DirectoryFieldNames, f.Field) {
			return fieldErr(name+".field", "unknown field %q (one of %s, %s)", shortText(f.Field), DirectorySearchAll, strings.Join(DirectoryFieldNames, ", "))
		}
		if seen[f.Field] {
			return fieldErr(name+".field", "field %q has two search fields", f.Field)
		}
		seen[f.Field] = true
		if strings.TrimSpace(f.Label) == "" {
			return fieldErr(name+".label", "a search field needs a label")
		}
	}
	return nil
}

// PauseReason is a reason code an agent may give when pausing.
type PauseReason struct {
	Code string `yaml:"code" json:"code"`
	Name string `yaml:"name" json:"name,omitempty"`
}

// Contact is an external directory entry (users are directory entries
// too).
type Contact struct {
	ID        string `yaml:"id" json:"id"`
	FirstName string `yaml:"first_name" json:"first_name,omitempty"`
	LastName  string `yaml:"last_name" json:"last_name,omitempty"`
	Company   string `yaml:"company" json:"company,omitempty"`
	Extension string `yaml:"extension" json:"extension,omitempty"`
	Mobile    string `yaml:"mobile" json:"mobile,omitempty"`
	Phone     string `yaml:"phone" json:"phone,omitempty"`
}

// SpeedDial is one of a user's speed-dial keys: set by the configuration
// (User.SpeedDials, the defaults) or by the operator in the console
// (Preferences.SpeedDials, which replace the defaults once saved).
type SpeedDial struct {
	// Label is the key's first line (the number when empty), Label2 its
	// second.
	Label  string `yaml:"label" json:"label"`
	Label2 string `yaml:"label2" json:"label2,omitempty"`
	Number string `yaml:"number" json:"number"`
	// Colour is the key's colour, one of SpeedDialColours (empty: the
	// console's plain key).
	Colour string `yaml:"colour" json:"colour,omitempty"`
	// Page (1 or 2) and Position (1..MaxSpeedDialsPerPage) place the key
	// in the console. The operator's own keys give both; in the
	// configuration 0 means page 1, after the placed keys, in order.
	Page     int `yaml:"page" json:"page,omitempty"`
	Position int `yaml:"position" json:"position,omitempty"`
}

// BusinessUnit is a tenant of a multi-tenant contact center.
type BusinessUnit struct {
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name,omitempty"`
}

// User is an employee with an extension.
type User struct {
	ID           string `yaml:"id" json:"id"`
	Name         string `yaml:"name" json:"name,omitempty"`
	Extension    string `yaml:"extension" json:"extension,omitempty"`
	BusinessUnit string `yaml:"business_unit" json:"business_unit,omitempty"`
	Email        string `yaml:"email" json:"email,omitempty"`
	FirstName    string `yaml:"first_name" json:"first_name,omitempty"`
	LastName     string `yaml:"last_name" json:"last_name,omitempty"`
	Company      string `yaml:"company" json:"company,omitempty"`
	Mobile       string `yaml:"mobile" json:"mobile,omitempty"`
	// CallCategory names the user's call permissions.
	CallCategory string `yaml:"call_category" json:"call_category,omitempty"`
	// ForwardingCategory limits the forwards the user may set (one of
	// ForwardingCategories; empty means "all").
	ForwardingCategory string `yaml:"forwarding_category" json:"forwarding_category,omitempty"`
	// WebPhoneMode is "exclusive" (default: a logged-in web phone rings
	// alone) or "multi-device" (the web phone rings by order like the
	// others).
	WebPhoneMode string      `yaml:"web_phone_mode" json:"web_phone_mode,omitempty"`
	SpeedDials   []SpeedDial `yaml:"speed_dials" json:"speed_dials,omitempty"`
	// MonitoredMailboxes are the extensions whose voicemail lists the user
	// may watch besides the own (portal Voicemail tab, console), sorted.
	MonitoredMailboxes []string `yaml:"monitored_mailboxes" json:"monitored_mailboxes,omitempty"`
	// PasswordHash is the user's console/portal password as
	// "pbkdf2-sha256$<iterations>$<salt>$<key>" (base64url salt and key),
	// made by `tandemctl hash-password`. The engine only checks its form;
	// the operations API verifies passwords. Never the password itself.
	PasswordHash string `yaml:"password_hash" json:"password_hash,omitempty"`
}

// passwordHashRE is the form of User.PasswordHash: at least 100,000
// iterations (6+ digits), a salt of 16+ bytes and a 32-byte key.
var passwordHashRE = regexp.MustCompile(`^pbkdf2-sha256\$[1-9][0-9]{5,8}\$[A-Za-z0-9_-]{22,88}\$[A-Za-z0-9_-]{43}$`)

// Extension is an internal number with up to MaxPhones phones.
type Extension struct {
	Number string  `yaml:"number" json:"number"`
	Phones []Phone `yaml:"phones" json:"phones,omitempty"`
}

// Phone is one device of an extension.
type Phone struct {
	ID string `yaml:"id" json:"id"`
	// Position is the phone's slot in the extension, 0..MaxPhones-1; slots
	// may have gaps.
	Position int `yaml:"position" json:"position"`
	// Order is the ring order: lowest first, equal orders ring together,
	// 0 never rings.
	Order     int    `yaml:"order" json:"order"`
	Kind      string `yaml:"kind" json:"kind"`
	Category  string `yaml:"category" json:"category,omitempty"`
	Secure    bool   `yaml:"secure" json:"secure,omitempty"`
	Published bool   `yaml:"published" json:"published,omitempty"`
	// Disabled phones never ring (the user switched ringing off) but keep
	// their order.
	Disabled bool `yaml:"disabled" json:"disabled,omitempty"`
	// Pool marks a shared (pool) web phone; it cannot be in multi-device
	// mode.
	Pool bool `yaml:"pool" json:"pool,omitempty"`
	// Password is a non-secure phone's SIP password, set by the
	// administrator (8-256 printable ASCII characters, no spaces). It is
	// write-only: the document shows PasswordHashRedacted, which applied
	// back keeps it; no event carries it. Refused on a secure phone,
	// whose password the system generates (phonepass.go).
	Password string `yaml:"password" json:"password,omitempty"`
}

// Queue is a voice (or other medium) queue served by agents.
type Queue struct {
	ID                  string `yaml:"id" json:"id"`
	Name                string `yaml:"name" json:"name,omitempty"`
	BusinessUnit        string `yaml:"business_unit" json:"business_unit,omitempty"`
	Strategy            string `yaml:"strategy" json:"strategy"`
	ServiceLevelSeconds int    `yaml:"service_level_seconds" json:"service_level_seconds"`
	// RingTimeoutSeconds overrides Settings.RingTimeoutSeconds (0 = use
	// the setting).
	RingTimeoutSeconds int `yaml:"ring_timeout_seconds" json:"ring_timeout_seconds,omitempty"`
	// Skills every call of the queue requires (skill -> minimum level).
	Skills map[string]int `yaml:"skills" json:"skills,omitempty"`
}

// Agent is an operator who logs in to queues.
type Agent struct {
	ID            string         `yaml:"id" json:"id"`
	Name          string         `yaml:"name" json:"name,omitempty"`
	User          string         `yaml:"user" json:"user,omitempty"`
	Extension     string         `yaml:"extension" json:"extension,omitempty"`
	Queues        []string       `yaml:"queues" json:"queues,omitempty"`
	Skills        map[string]int `yaml:"skills" json:"skills,omitempty"`
	WrapUpSeconds int            `yaml:"wrap_up_seconds" json:"wrap_up_seconds,omitempty"`
	MaxNoAnswer   int            `yaml:"max_no_answer" json:"max_no_answer,omitempty"`
}

// Limits and enumerations of the configuration.
const (
	MaxPhones     = 8
	MaxPhoneOrder = 99
	MaxSkillLevel = 10
	MaxSpeedDials = 100
	// MaxMonitoredMailboxes bounds a user's monitored mailboxes.
	MaxMonitoredMailboxes = 50
	// MaxExcludedNumbers bounds the excluded-numbers list.
	MaxExcludedNumbers = 100000
)

// Strategies are the routing strategies a queue may use.
var Strategies = []string{"longest-idle", "round-robin", "ring-all", "fewest-calls", "skills"}

// PhoneKinds are the kinds of phone an extension may have. A "primary"
// phone (the vendor's main desk set) must sit at position 0.
var PhoneKinds = []string{"sip", "web", "mobile", "primary"}

// WebPhoneModes are the web-phone modes a user may have.
var WebPhoneModes = []string{"exclusive", "multi-device"}

// ForwardingCategories, from most to least restrictive: what forwards a
// user may set. "voicemail": only to voicemail; "internal": also to
// internal numbers; "national": also to national numbers; "all": anything.
var ForwardingCategories = []string{"none", "voicemail", "internal", "national", "all"}

// DirectoryFieldNames are the fields a directory search may look in.
var DirectoryFieldNames = []string{"first_name", "last_name", "name", "company", "extension", "mobile", "phone"}

// DefaultSettings are the settings of an engine no document set.
func DefaultSettings() Settings {
	return Settings{
		RingTimeoutSeconds:   15,
		AutoReturnSeconds:    60,
		ParkReturnSeconds:    120,
		InternalNumberLength: 4,
		DirectoryFields:      []string{"company", "extension", "first_name", "last_name", "mobile", "name"},
	}
}

// Config is the applied configuration, keyed for lookup.
type Config struct {
	BusinessUnits map[string]BusinessUnit `json:"business_units"`
	Users         map[string]User         `json:"users"`
	Extensions    map[string]Extension    `json:"extensions"`
	Queues        map[string]Queue        `json:"queues"`
	Agents        map[string]Agent        `json:"agents"`
	Settings      Settings                `json:"settings"`
	PauseReasons  map[string]PauseReason  `json:"pause_reasons"`
	Contacts      map[string]Contact      `json:"contacts"`
	// contactWrites are a merge's document contacts, staged over
	// Contacts (which the merge shares with the configuration it started
	// from, never copied: a directory can hold millions) until
	// commitContacts writes them, once every check has passed (mergeStaged).
	contactWrites []Contact
	// named are a merge's document keys by kind ("user", "queue", …; not
	// the directory's nor the excluded numbers'), when it merged over
	// the configuration it started from (no prune): the only entries of
	// those kinds that can differ from it, since the merge and the
	// password keepers write no others. The diff then compares those
	// alone (diffEntries). Cleared when the configuration is committed.
	named map[string][]string
	// ExcludedNumbers is keyed by the normalised number.
	ExcludedNumbers map[string]ExcludedNumber `json:"excluded_numbers,omitempty"`
	// Callbacks is the callback routing schedule (nil: none configured).
	Callbacks *CallbackSettings `json:"callbacks,omitempty"`
	// Mail is the e-mail channel's settings, nil when it is off. It holds
	// the IMAP and SMTP passwords: shown only redacted (Document).
	Mail *Mail `json:"mail,omitempty"`
	// Chat is the web chat section (nil: web chat not configured).
	Chat *ChatSettings `json:"chat,omitempty"`
}

func emptyConfig() Config {
	c := Config{}
	c.normalize()
	return c
}

func (c *Config) normalize() {
	if c.BusinessUnits == nil {
		c.BusinessUnits = map[string]BusinessUnit{}
	}
	if c.Users == nil {
		c.Users = map[string]User{}
	}
	if c.Extensions == nil {
		c.Extensions = map[string]Extension{}
	}
	if c.Queues == nil {
		c.Queues = map[string]Queue{}
	}
	if c.Agents == nil {
		c.Agents = map[string]Agent{}
	}
	if c.PauseReasons == nil {
		c.PauseReasons = map[string]PauseReason{}
	}
	if c.Contacts == nil {
		c.Contacts = map[string]Contact{}
	}
	if c.ExcludedNumbers == nil {
		c.ExcludedNumbers = map[string]ExcludedNumber{}
	}
	c.Settings = c.Settings.withDefaults()
}

// withDefaults fills zero fields with their defaults.
func (s Settings) withDefaults() Settings {
	d := DefaultSettings()
	if s.RingTimeoutSeconds == 0 {
		s.RingTimeoutSeconds = d.RingTimeoutSeconds
	}
	if s.AutoReturnSeconds == 0 {
		s.AutoReturnSeconds = d.AutoReturnSeconds
	}
	if s.ParkReturnSeconds == 0 {
		s.ParkReturnSeconds = d.ParkReturnSeconds
	}
	if s.InternalNumberLength == 0 {
		s.InternalNumberLength = d.InternalNumberLength
	}
	if len(s.DirectoryFields) == 0 {
		s.DirectoryFields = d.DirectoryFields
	}
	s.Retention = s.Retention.withDefaults()
	if s.MaintenanceTime == "" {
		s.MaintenanceTime = DefaultMaintenanceTime
	}
	s.PhoneSecrets = s.PhoneSecrets.withDefaults()
	return s
}

// ApplyRequest is the payload of a config.apply command.
type ApplyRequest struct {
	Document Document `json:"document"`
	Prune    bool     `json:"prune,omitempty"`
}

// ApplyResult tells what a config.apply changed.
type ApplyResult struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Removed   int `json:"removed"`
	Unchanged int `json:"unchanged"`
}

// Changed reports whether the apply changed anything.
func (r ApplyResult) Changed() bool { return r.Created+r.Updated+r.Removed > 0 }

// ParseDocument (parse.go) reads a document from YAML or JSON.

// Validate checks a document on its own: every field well-formed, every
// text within its kind's limits (limits.go). It does not check references,
// which need the merged configuration (a document may refer to objects an
// earlier apply created); Apply checks those.
//
// The text limits are the edge's (Validate, CheckPayload), not apply's: a
// command an earlier build committed under looser limits must apply
// alike on replay, or the nodes' states would part.
func (d Document) Validate() error {
	// Every text first: within its kind's limits, no control or
	// bidirectional characters in names (limits.go).
	if err := checkTexts(d); err != nil {
		return err
	}
	_, err := mergeFields(emptyConfig(), d, true)
	return err
}

func (e *Engine) applyConfig(env command.Envelope) (any, error) {
	var req ApplyRequest
	if err := json.Unmarshal(env.Payload, &req); err != nil {
		return nil, fmt.Errorf("decoding config.apply: %w", configPayloadErr(jsonin.Explain(env.Payload, &req, err, false)))
	}
	next, err := mergeStaged(e.st.Config, req.Document, req.Prune)
	if err != nil {
		return nil, err
	}
	if err := e.checkRemovals(next); err != nil {
		return nil, err
	}
	res, ch := diffDetail(e.st.Config, next, engineSink{e})
	e.dropRemovedMailboxes(next)
	next.commitContacts() // every check passed: now the shared map changes
	e.st.Config = next
	e.syncRuntime(&ch)
	return res, nil
}

// Ids are 1-64 of A-Z a-z 0-9 _ . -, starting with a letter or digit
// (validID); extension numbers 2-15 digits.
var extRE = regexp.MustCompile(`^[0-9]{2,15}$`)

// merge returns cur with d applied, or the first invalid field. cur is not
// modified.
func mergeFields(cur Config, d Document, prune bool) (Config, error) {
	next := emptyConfig()
	if !prune {
		// Copies of the current maps (maps.Clone copies their tables
		// whole: inserting entry by entry rehashed as they grew, a fifth
		// of a one-entity change on a large configuration).
		cloneInto(&next.BusinessUnits, cur.BusinessUnits)
		cloneInto(&next.Users, cur.Users)
		cloneInto(&next.Extensions, cur.Extensions)
		cloneInto(&next.Queues, cur.Queues)
		cloneInto(&next.Agents, cur.Agents)
		cloneInto(&next.PauseReasons, cur.PauseReasons)
		// The directory can hold millions of contacts: the document's
		// are staged, written into the shared map by commitContacts.
		next.Contacts = cur.Contacts
		if next.Contacts == nil {
			next.Contacts = map[string]Contact{}
		}
		next.contactWrites = make([]Contact, 0, len(d.Contacts))
		next.named = map[string][]string{}
		cloneInto(&next.ExcludedNumbers, cur.ExcludedNumbers)
		next.Settings = cur.Settings
		next.Callbacks = cur.Callbacks
		next.Mail = cur.Mail
		next.Chat = cur.Chat
	}
	if d.Mail != nil {
		m, err := checkMail(*d.Mail)
		if err != nil {
			return Config{}, err
		}
		next.Mail = &m
	}
	if d.Chat != nil {
		cs, err := checkChatSettings(*d.Chat)
		if err != nil {
			return Config{}, err
		}
		next.Chat = &cs
	}
	if d.Callbacks != nil {
		cb, err := checkCallbackSettings(*d.Callbacks)
		if err != nil {
			return Config{}, err
		}
		next.Callbacks = &cb
	}
	if d.Settings != nil {
		st, err := checkSettings(*d.Settings)
		if err != nil {
			return Config{}, err
		}
		next.Settings = st
	}
	seen := map[string]bool{}
	dup := func(kind, field, id string) error {
		k := kind + "\x00" + id
		if seen[k] {
			return fieldErr(field, "duplicate %q in this document", id)
		}
		seen[k] = true
		return nil
	}
	for i, r := range d.PauseReasons {
		f := fmt.Sprintf("pause_reasons[%d].code", i)
		if err := checkID(f, r.Code); err != nil {
			return Config{}, err
		}
		if r.Code == ReasonNoAnswer || r.Code == ReasonLogin || r.Code == ReasonLogout {
			return Config{}, fieldErr(f, "%q is reserved for the system", r.Code)
		}
		if err := dup("pause", f, r.Code); err != nil {
			return Config{}, err
		}
		next.PauseReasons[r.Code] = r
		next.name("pause_reason", r.Code)
	}
	for i, c := range d.Contacts {
		f := fmt.Sprintf("contacts[%d]", i)
		if err := checkID(f+".id", c.ID); err != nil {
			return Config{}, err
		}
		if err := dup("contact", f+".id", c.ID); err != nil {
			return Config{}, err
		}
		if next.contactWrites != nil {
			next.contactWrites = append(next.contactWrites, c)
		} else {
			next.Contacts[c.ID] = c
		}
	}
	for i, b := range d.BusinessUnits {
		f := fmt.Sprintf("business_units[%d].id", i)
		if err := checkID(f, b.ID); err != nil {
			return Config{}, err
		}
		if err := dup("bu", f, b.ID); err != nil {
			return Config{}, err
		}
		next.BusinessUnits[b.ID] = b
		next.name("business_unit", b.ID)
	}
	for i, x := range d.Extensions {
		if err := checkExtension(fmt.Sprintf("extensions[%d]", i), x); err != nil {
			return Config{}, err
		}
		if err := dup("ext", fmt.Sprintf("extensions[%d].number", i), x.Number); err != nil {
			return Config{}, err
		}
		next.Extensions[x.Number] = normalizeExtension(x)
		next.name("extension", x.Number)
	}
	for i, u := range d.Users {
		f := fmt.Sprintf("users[%d]", i)
		if err := checkID(f+".id", u.ID); err != nil {
			return Config{}, err
		}
		if err := dup("user", f+".id", u.ID); err != nil {
			return Config{}, err
		}
		if u.CallCategory != "" {
			if err := checkID(f+".call_category", u.CallCategory); err != nil {
				return Config{}, err
			}
		}
		if u.ForwardingCategory != "" && !contains(ForwardingCategories, u.ForwardingCategory) {
			return Config{}, fieldErr(f+".forwarding_category", "unknown forwarding category %q (one of %s)", u.ForwardingCategory, strings.Join(ForwardingCategories, ", "))
		}
		if u.PasswordHash != "" && u.PasswordHash != PasswordHashRedacted && !passwordHashRE.MatchString(u.PasswordHash) {
			return Config{}, fieldErr(f+".password_hash", "not a password hash: make one with `tandemctl hash-password` (the password itself is never stored)")
		}
		if u.WebPhoneMode != "" && !contains(WebPhoneModes, u.WebPhoneMode) {
			return Config{}, fieldErr(f+".web_phone_mode", "unknown web phone mode %q (one of %s)", u.WebPhoneMode, strings.Join(WebPhoneModes, ", "))
		}
		if len(u.SpeedDials) > MaxSpeedDials {
			return Config{}, fieldErr(f+".speed_dials", "%d speed dials, a user has at most %d", len(u.SpeedDials), MaxSpeedDials)
		}
		if err := checkSpeedDials(f+".speed_dials", u.SpeedDials, false); err != nil {
			return Config{}, err
		}
		if len(u.SpeedDials) == 0 {
			u.SpeedDials = nil
		}
		if len(u.MonitoredMailboxes) > MaxMonitoredMailboxes {
			return Config{}, fieldErr(f+".monitored_mailboxes", "%d mailboxes, a user monitors at most %d", len(u.MonitoredMailboxes), MaxMonitoredMailboxes)
		}
		for j, m := range u.MonitoredMailboxes {
			if !extRE.MatchString(m) {
				return Config{}, fieldErr(fmt.Sprintf("%s.monitored_mailboxes[%d]", f, j), "%q is not an extension number (2-15 digits)", m)
			}
		}
		u.MonitoredMailboxes = sortedUnique(u.MonitoredMailboxes)
		next.Users[u.ID] = u
		next.name("user", u.ID)
	}
	for i, q := range d.Queues {
		f := fmt.Sprintf("queues[%d]", i)
		if err := checkID(f+".id", q.ID); err != nil {
			return Config{}, err
		}
		if err := dup("queue", f+".id", q.ID); err != nil {
			return Config{}, err
		}
		if q.Strategy == "" {
			q.Strategy = "longest-idle"
		}
		if !contains(Strategies, q.Strategy) {
			return Config{}, fieldErr(f+".strategy", "unknown strategy %q (one of %s)", q.Strategy, strings.Join(Strategies, ", "))
		}
		if q.ServiceLevelSeconds == 0 {
			q.ServiceLevelSeconds = 20
		}
		if q.ServiceLevelSeconds < 1 || q.ServiceLevelSeconds > 3600 {
			return Config{}, fieldErr(f+".service_level_seconds", "%d is out of range 1..3600", q.ServiceLevelSeconds)
		}
		if q.RingTimeoutSeconds < 0 || q.RingTimeoutSeconds > 600 {
			return Config{}, fieldErr(f+".ring_timeout_seconds", "%d is out of range 0..600", q.RingTimeoutSeconds)
		}
		if err := checkSkills(f+".skills", q.Skills); err != nil {
			return Config{}, err
		}
		if len(q.Skills) == 0 {
			q.Skills = nil
		}
		next.Queues[q.ID] = q
		next.name("queue", q.ID)
	}
	for i, a := range d.Agents {
		f := fmt.Sprintf("agents[%d]", i)
		if err := checkID(f+".id", a.ID); err != nil {
			return Config{}, err
		}
		if err := dup("agent", f+".id", a.ID); err != nil {
			return Config{}, err
		}
		if err := checkSkills(f+".skills", a.Skills); err != nil {
			return Config{}, err
		}
		if a.WrapUpSeconds < 0 || a.WrapUpSeconds > 3600 {
			return Config{}, fieldErr(f+".wrap_up_seconds", "%d is out of range 0..3600", a.WrapUpSeconds)
		}
		if a.MaxNoAnswer < 0 || a.MaxNoAnswer > 100 {
			return Config{}, fieldErr(f+".max_no_answer", "%d is out of range 0..100", a.MaxNoAnswer)
		}
		a.Queues = sortedUnique(a.Queues)
		if len(a.Skills) == 0 {
			a.Skills = nil
		}
		next.Agents[a.ID] = a
		next.name("agent", a.ID)
	}
	// Last: excluded numbers normalise with the final settings and
	// extensions (and those kept from before are normalised again, so a
	// change of the CTI settings keeps the list consistent).
	if err := mergeExcluded(&next, d.ExcludedNumbers); err != nil {
		return Config{}, err
	}
	return next, nil
}

// merge is mergeFields followed by the reference checks.
func merge(cur Config, d Document, prune bool) (Config, error) {
	next, err := mergeStaged(cur, d, prune)
	if err != nil || next.contactWrites == nil {
		next.named = nil // a configuration of its own: diffed whole
		return next, err
	}
	next.Contacts = maps.Clone(next.Contacts)
	next.commitContacts()
	return next, nil
}

// commitContacts writes the staged contacts into Contacts — the map the
// configuration merged from shares: call it only when next replaces it.
func (c *Config) commitContacts() {
	for _, w := range c.contactWrites {
		c.Contacts[w.ID] = w
	}
	c.contactWrites = nil
	c.named = nil
}

// name records a document key of kind written over the configuration a
// merge started from (Config.named; nothing for a prune).
func (c *Config) name(kind, key string) {
	if c.named != nil {
		c.named[kind] = append(c.named[kind], key)
	}
}

// mergeStaged is merge leaving a merge's document contacts staged
// (Config.contactWrites) over cur's own contacts map: cur is unchanged
// until the caller commits them, and nothing is copied.
func mergeStaged(cur Config, d Document, prune bool) (Config, error) {
	next, err := mergeFields(cur, d, prune)
	if err != nil {
		return Config{}, err
	}
	if err := keepPasswords(cur, next, d); err != nil {
		return Config{}, err
	}
	if err := keepMailPasswords(cur, &next, d); err != nil {
		return Config{}, err
	}
	if err := checkMailRefs(next); err != nil {
		return Config{}, err
	}
	if err := keepPhonePasswords(cur, next, d); err != nil {
		return Config{}, err
	}
	return next, checkRefs(next, d)
}

// checkRefs verifies that every reference in the merged configuration
// resolves. Errors name the document's field where the document introduced
// the reference, so the administrator sees what to fix.
func checkRefs(c Config, d Document) error {
	for i, u := range d.Users {
		f := fmt.Sprintf("users[%d]", i)
		if u.Extension != "" {
			if _, ok := c.Extensions[u.Extension]; !ok {
				return fieldErr(f+".extension", "unknown extension %q", u.Extension)
			}
		}
		if u.BusinessUnit != "" {
			if _, ok := c.BusinessUnits[u.BusinessUnit]; !ok {
				return fieldErr(f+".business_unit", "unknown business unit %q", u.BusinessUnit)
			}
		}
	}
	for i, u := range d.Users {
		for j, m := range u.MonitoredMailboxes {
			if _, ok := c.Extensions[m]; !ok {
				return fieldErr(fmt.Sprintf("users[%d].monitored_mailboxes[%d]", i, j), "unknown extension %q", m)
			}
		}
	}
	for i, u := range d.Users {
		if u.WebPhoneMode != "multi-device" {
			continue
		}
		for _, p := range c.Extensions[u.Extension].Phones {
			if p.Kind == "web" && p.Pool {
				return fieldErr(fmt.Sprintf("users[%d].web_phone_mode", i), "extension %q has pool web phone %q, which cannot be in multi-device mode", u.Extension, p.ID)
			}
		}
	}
	for i, q := range d.Queues {
		if q.BusinessUnit != "" {
			if _, ok := c.BusinessUnits[q.BusinessUnit]; !ok {
				return fieldErr(fmt.Sprintf("queues[%d].business_unit", i), "unknown business unit %q", q.BusinessUnit)
			}
		}
	}
	for i, a := range d.Agents {
		f := fmt.Sprintf("agents[%d]", i)
		if a.User != "" {
			if _, ok := c.Users[a.User]; !ok {
				return fieldErr(f+".user", "unknown user %q", a.User)
			}
		}
		if a.Extension != "" {
			if _, ok := c.Extensions[a.Extension]; !ok {
				return fieldErr(f+".extension", "unknown extension %q", a.Extension)
			}
		}
		for j, q := range a.Queues {
			if _, ok := c.Queues[q]; !ok {
				return fieldErr(fmt.Sprintf("%s.queues[%d]", f, j), "unknown queue %q", q)
			}
		}
	}
	// References from entities the document did not mention must still
	// resolve (a prune, or an upsert that dropped a referenced entity).
	for _, id := range sortedKeys(c.Users) {
		u := c.Users[id]
		if _, ok := c.Extensions[u.Extension]; u.Extension != "" && !ok {
			return fieldErr("users."+id+".extension", "extension %q would no longer exist", u.Extension)
		}
		if _, ok := c.BusinessUnits[u.BusinessUnit]; u.BusinessUnit != "" && !ok {
			return fieldErr("users."+id+".business_unit", "business unit %q would no longer exist", u.BusinessUnit)
		}
		for _, m := range u.MonitoredMailboxes {
			if _, ok := c.Extensions[m]; !ok {
				return fieldErr("users."+id+".monitored_mailboxes", "extension %q would no longer exist", m)
			}
		}
		if u.WebPhoneMode == "multi-device" {
			for _, p := range c.Extensions[u.Extension].Phones {
				if p.Kind == "web" && p.Pool {
					return fieldErr("users."+id+".web_phone_mode", "extension %q would have pool web phone %q, which cannot be in multi-device mode", u.Extension, p.ID)
				}
			}
		}
	}
	for _, id := range sortedKeys(c.Queues) {
		q := c.Queues[id]
		if _, ok := c.BusinessUnits[q.BusinessUnit]; q.BusinessUnit != "" && !ok {
			return fieldErr("queues."+id+".business_unit", "business unit %q would no longer exist", q.BusinessUnit)
		}
	}
	if c.Callbacks != nil {
		for i, q := range c.Callbacks.Queues {
			if _, ok := c.Queues[q]; !ok {
				return fieldErr(fmt.Sprintf("callbacks.queues[%d]", i), "unknown queue %q", q)
			}
		}
	}
	if c.Chat != nil && c.Chat.Queue != "" {
		if _, ok := c.Queues[c.Chat.Queue]; !ok {
			return fieldErr("chat.queue", "unknown queue %q", c.Chat.Queue)
		}
	}
	for _, id := range sortedKeys(c.Agents) {
		a := c.Agents[id]
		if _, ok := c.Users[a.User]; a.User != "" && !ok {
			return fieldErr("agents."+id+".user", "user %q would no longer exist", a.User)
		}
		if _, ok := c.Extensions[a.Extension]; a.Extension != "" && !ok {
			return fieldErr("agents."+id+".extension", "extension %q would no longer exist", a.Extension)
		}
		for _, q := range a.Queues {
			if _, ok := c.Queues[q]; !ok {
				return fieldErr("agents."+id+".queues", "queue %q would no longer exist", q)
			}
		}
	}
	return nil
}

// validID checks an id without a regexp (hot: every call id).
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '_' || c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

func checkID(field, id string) error {
	if !validID(id) {
		return fieldErr(field, "%q is not a valid id (1-64 of A-Z a-z 0-9 _ . -, starting with a letter or digit)", id)
	}
	return nil
}

func checkExtension(f string, x Extension) error {
	if !extRE.MatchString(x.Number) {
		return fieldErr(f+".number", "%q is not an extension number (2-15 digits)", x.Number)
	}
	if len(x.Phones) > MaxPhones {
		return fieldErr(f+".phones", "%d phones, an extension has at most %d", len(x.Phones), MaxPhones)
	}
	ids, pos := map[string]bool{}, map[int]bool{}
	for i, p := range x.Phones {
		pf := fmt.Sprintf("%s.phones[%d]", f, i)
		if err := checkID(pf+".id", p.ID); err != nil {
			return err
		}
		if ids[p.ID] {
			return fieldErr(pf+".id", "duplicate phone %q", p.ID)
		}
		ids[p.ID] = true
		if p.Position < 0 || p.Position >= MaxPhones {
			return fieldErr(pf+".position", "%d is out of range 0..%d", p.Position, MaxPhones-1)
		}
		if pos[p.Position] {
			return fieldErr(pf+".position", "position %d is taken by another phone", p.Position)
		}
		pos[p.Position] = true
		if p.Order < 0 || p.Order > MaxPhoneOrder {
			return fieldErr(pf+".order", "%d is out of range 0..%d", p.Order, MaxPhoneOrder)
		}
		if p.Kind == "" {
			p.Kind = "sip"
		}
		if !contains(PhoneKinds, p.Kind) {
			return fieldErr(pf+".kind", "unknown kind %q (one of %s)", p.Kind, strings.Join(PhoneKinds, ", "))
		}
		if p.Published && !p.Secure {
			return fieldErr(pf+".published", "a phone published on the internet must be secure")
		}
		if p.Kind == "web" && (p.Secure || p.Published) {
			return fieldErr(pf+".kind", "a web phone can be neither secure nor published")
		}
		if p.Pool && p.Kind != "web" {
			return fieldErr(pf+".pool", "only a web phone can be a pool phone")
		}
		if p.Category != "" {
			if err := checkID(pf+".category", p.Category); err != nil {
				return err
			}
		}
		if err := checkPhonePassword(pf+".password", p); err != nil {
			return err
		}
	}
	// The primary phone sits at position 0 whatever position was given;
	// another phone placed there explicitly conflicts with it.
	primary := -1
	for i, p := range x.Phones {
		if p.Kind == "primary" {
			if primary >= 0 {
				return fieldErr(fmt.Sprintf("%s.phones[%d].kind", f, i), "an extension has at most one primary phone")
			}
			primary = i
		}
	}
	if primary >= 0 {
		for i, p := range x.Phones {
			if i != primary && p.Position == 0 {
				return fieldErr(fmt.Sprintf("%s.phones[%d].position", f, i), "position 0 is reserved for the primary phone %q", x.Phones[primary].ID)
			}
		}
	}
	return nil
}

func checkSettings(st Settings) (Settings, error) {
	st = st.withDefaults()
	if st.RingTimeoutSeconds < 1 || st.RingTimeoutSeconds > 600 {
		return Settings{}, fieldErr("settings.ring_timeout_seconds", "%d is out of range 1..600", st.RingTimeoutSeconds)
	}
	if st.AutoReturnSeconds < 1 || st.AutoReturnSeconds > 86400 {
		return Settings{}, fieldErr("settings.auto_return_seconds", "%d is out of range 1..86400", st.AutoReturnSeconds)
	}
	if st.ParkReturnSeconds < 1 || st.ParkReturnSeconds > 86400 {
		return Settings{}, fieldErr("settings.park_return_seconds", "%d is out of range 1..86400", st.ParkReturnSeconds)
	}
	if err := st.Retention.check(); err != nil {
		return Settings{}, err
	}
	if err := st.PhoneSecrets.check(); err != nil {
		return Settings{}, err
	}
	if err := checkSIPServers(st.SIPServers); err != nil {
		return Settings{}, err
	}
	if len(st.SIPServers) == 0 {
		st.SIPServers = nil
	}
	if _, _, ok := maintenanceClock(st.MaintenanceTime); !ok {
		return Settings{}, fieldErr("settings.maintenance_time", "%q: want HH:MM (UTC), e.g. 03:00", shortText(st.MaintenanceTime))
	}
	if st.InternalNumberLength < 2 || st.InternalNumberLength > 15 {
		return Settings{}, fieldErr("settings.internal_number_length", "%d is out of range 2..15", st.InternalNumberLength)
	}
	if err := checkDigits("settings.outside_line_prefix", st.OutsideLinePrefix, 0, 4, true); err != nil {
		return Settings{}, err
	}
	if err := checkDigits("settings.default_country_code", st.DefaultCountryCode, 0, 3, false); err != nil {
		return Settings{}, err
	}
	if err := checkDigits("settings.default_area_code", st.DefaultAreaCode, 0, 6, true); err != nil {
		return Settings{}, err
	}
	if st.DefaultAreaCode != "" && st.DefaultCountryCode == "" {
		return Settings{}, fieldErr("settings.default_area_code", "needs default_country_code")
	}
	fields := sortedUnique(st.DirectoryFields)
	for i, fl := range st.DirectoryFields {
		if !contains(DirectoryFieldNames, fl) {
			return Settings{}, fieldErr(fmt.Sprintf("settings.directory_fields[%d]", i), "unknown field %q (one of %s)", fl, strings.Join(DirectoryFieldNames, ", "))
		}
	}
	st.DirectoryFields = fields
	if err := checkDirectorySearch(st.DirectorySearch); err != nil {
		return Settings{}, err
	}
	if len(st.DirectorySearch) == 0 {
		st.DirectorySearch = nil
	}
	return st, nil
}

// checkDigits checks a string of min..max digits (empty allowed when min
// is 0); leadingZero allows a first digit 0.
func checkDigits(field, v string, min, max int, leadingZero bool) error {
	if len(v) < min || len(v) > max {
		return fieldErr(field, "%q: %d..%d digits", v, min, max)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return fieldErr(field, "%q: digits only", v)
		}
	}
	if v != "" && v[0] == '0' && !leadingZero {
		return fieldErr(field, "%q must not start with 0", v)
	}
	return nil
}

func checkSkills(f string, skills map[string]int) error {
	// Usually every skill is valid: that is found without sorting (the
	// hot path of call.incoming). A fault is reported for the first skill
	// in sorted order.
	valid := true
	for s, lvl := range skills {
		if !validID(s) || lvl < 1 || lvl > MaxSkillLevel {
			valid = false
			break
		}
	}
	if valid {
		return nil
	}
	for _, s := range sortedKeys(skills) {
		if err := checkID(f, s); err != nil {
			return err
		}
		if lvl := skills[s]; lvl < 1 || lvl > MaxSkillLevel {
			return fieldErr(f+"."+s, "level %d is out of range 1..%d", lvl, MaxSkillLevel)
		}
	}
	return nil
}

func normalizeExtension(x Extension) Extension {
	phones := append([]Phone(nil), x.Phones...)
	for i := range phones {
		if phones[i].Kind == "" {
			phones[i].Kind = "sip"
		}
		if phones[i].Kind == "primary" {
			phones[i].Position = 0
		}
	}
	sort.Slice(phones, func(i, j int) bool { return phones[i].Position < phones[j].Position })
	if len(phones) == 0 {
		phones = nil
	}
	return Extension{Number: x.Number, Phones: phones}
}

// eventSink is where diff emits: the command's events (engineSink) or,
// for Preview, a throwaway command.Emitter.
type eventSink interface {
	Emit(typ string, data any)
}

// engineSink emits into the command being applied (Engine.emit).
type engineSink struct{ e *Engine }

func (s engineSink) Emit(typ string, data any) { s.e.emit(typ, data) }

// diff emits one event per created, updated or removed entity, in a
// deterministic order, and counts them.
func diff(old, next Config, em eventSink) ApplyResult {
	r, _ := diffDetail(old, next, em)
	return r
}

// configChange is what a config.apply changed, for the derived indexes
// (syncRuntime): when only directory contacts changed, the caller index
// is updated for those alone instead of rebuilt from every contact.
type configChange struct {
	// contactsOnly: nothing but directory contacts changed.
	contactsOnly bool
	// callersKept: what the caller index reads besides the directory
	// (users, extensions, settings) did not change, so the index is
	// updated for the contacts that changed (none: kept as it is)
	// instead of rebuilt from every contact — a queue or an agent
	// added to a center with a large directory does not hold every
	// member's apply for the directory's length.
	callersKept bool
	// contacts are the ids of the contacts created, updated or removed,
	// sorted; previous holds the values before the apply of those that
	// existed.
	contacts []string
	previous map[string]Contact
}

// diffDetail is diff, telling also what changed. When next holds staged
// contacts (mergeStaged), the directory is compared at those alone.
func diffDetail(old, next Config, em eventSink) (ApplyResult, configChange) {
	var r ApplyResult
	diffEntries(&r, em, "business_unit", old.BusinessUnits, next.BusinessUnits, next.named, nil)
	// Nor an extension's its phones' passwords (extensionEvent).
	exts := diffEntries(&r, em, "extension", old.Extensions, next.Extensions, next.named, extensionEvent)
	// A user's event never carries the password hash (UserEvent).
	users := diffEntries(&r, em, "user", old.Users, next.Users, next.named, userEvent)
	diffEntries(&r, em, "queue", old.Queues, next.Queues, next.named, nil)
	diffEntries(&r, em, "agent", old.Agents, next.Agents, next.named, nil)
	diffEntries(&r, em, "pause_reason", old.PauseReasons, next.PauseReasons, next.named, nil)
	before := r
	var ch configChange
	if next.contactWrites != nil {
		ch.contacts = diffStaged(&r, em, old.Contacts, next.contactWrites)
	} else {
		ch.contacts = diffKind(&r, em, "contact", old.Contacts, next.Contacts, nil)
	}
	ch.previous = make(map[string]Contact, len(ch.contacts))
	for _, id := range ch.contacts {
		if c, ok := old.Contacts[id]; ok {
			ch.previous[id] = c
		}
	}
	contactChanges := r.Created + r.Updated + r.Removed - (before.Created + before.Updated + before.Removed)
	diffKind(&r, em, "excluded_number", old.ExcludedNumbers, next.ExcludedNumbers, nil)
	// The mail settings' event never carries the passwords (MailEvent).
	diffMail(&r, em, old.Mail, next.Mail)
	// Settings always exist: they count only when they change.
	settingsKept := reflect.DeepEqual(old.Settings, next.Settings)
	if !settingsKept {
		r.Updated++
		em.Emit("config.settings.updated", next.Settings)
	}
	ch.callersKept = len(exts) == 0 && len(users) == 0 && settingsKept
	if !reflect.DeepEqual(old.Callbacks, next.Callbacks) {
		r.Updated++
		cb := CallbackSettings{}.withDefaults()
		if next.Callbacks != nil {
			cb = *next.Callbacks
			cb.ZoneData = nil
		}
		em.Emit("config.callbacks.updated", cb)
	}
	if !reflect.DeepEqual(old.Chat, next.Chat) && next.Chat != nil {
		r.Updated++
		em.Emit("config.chat.updated", *next.Chat)
	}
	// Anything a counted change does not cover (a document's fields
	// without events) makes the change not "contacts only": every
	// derived index is then rebuilt.
	ch.contactsOnly = r.Created+r.Updated+r.Removed == contactChanges && configWithoutContacts(old, next)
	return r, ch
}

// configWithoutContacts tells whether old and next agree on everything
// the caller index depends on besides the directory contacts: users,
// extensions and settings (Engine.canonical).
func configWithoutContacts(old, next Config) bool {
	return reflect.DeepEqual(old.Users, next.Users) && reflect.DeepEqual(old.Extensions, next.Extensions) &&
		reflect.DeepEqual(old.Settings, next.Settings)
}

// view, when not nil, turns an entity into its event's data. It returns
// the keys created, updated or removed, sorted.
func diffKind[V any](r *ApplyResult, em eventSink, kind string, old, next map[string]V, view func(V) any) []string {
	data := func(v V) any {
		if view != nil {
			return view(v)
		}
		return v
	}
	// Only the changes are sorted, not every key: the events come in
	// the keys' order all the same (created and updated ones, then the
	// removed), in time that grows with the entities compared, not with
	// the sorting of all of them on every change.
	var changed, removed []string
	for k, v := range next {
		if o, had := old[k]; had && reflect.DeepEqual(o, v) {
			r.Unchanged++
		} else {
			changed = append(changed, k)
		}
	}
	for k := range old {
		if _, ok := next[k]; !ok {
			removed = append(removed, k)
		}
	}
	slices.Sort(changed)
	slices.Sort(removed)
	for _, k := range changed {
		if _, had := old[k]; had {
			r.Updated++
			em.Emit("config."+kind+".updated", data(next[k]))
		} else {
			r.Created++
			em.Emit("config."+kind+".created", data(next[k]))
		}
	}
	for _, k := range removed {
		r.Removed++
		em.Emit("config."+kind+".removed", map[string]string{"id": k})
	}
	changed = append(changed, removed...)
	return sortedUnique(changed)
}

// diffEntries is diffKind, or, when named is not nil (a merge over old:
// next is old with named[kind] written over it, nothing removed), the
// same events and counts from those entries alone, in time that grows
// with the document, not with the configuration.
func diffEntries[V any](r *ApplyResult, em eventSink, kind string, old, next map[string]V, named map[string][]string, view func(V) any) []string {
	if named == nil {
		return diffKind(r, em, kind, old, next, view)
	}
	data := func(v V) any {
		if view != nil {
			return view(v)
		}
		return v
	}
	keys := sortedUnique(named[kind])
	changed := keys[:0]
	updated := 0
	for _, k := range keys {
		v := next[k]
		o, had := old[k]
		switch {
		case !had:
			r.Created++
			em.Emit("config."+kind+".created", data(v))
			changed = append(changed, k)
		case !reflect.DeepEqual(o, v):
			updated++
			r.Updated++
			em.Emit("config."+kind+".updated", data(v))
			changed = append(changed, k)
		}
	}
	// Every entry of old stays; those not updated are unchanged.
	r.Unchanged += len(old) - updated
	return changed
}

// diffStaged is diffKind of the directory when next is old with the
// staged writes over it (nothing removed, every other entry unchanged):
// the same events and counts, in time that grows with the writes, not
// with the directory. It returns the ids created or updated, sorted.
func diffStaged(r *ApplyResult, em eventSink, old map[string]Contact, writes []Contact) []string {
	ws := slices.Clone(writes)
	slices.SortFunc(ws, func(a, b Contact) int { return strings.Compare(a.ID, b.ID) })
	var changed []string
	updated := 0
	for _, w := range ws {
		o, had := old[w.ID]
		switch {
		case !had:
			r.Created++
			em.Emit("config.contact.created", w)
			changed = append(changed, w.ID)
		case !reflect.DeepEqual(o, w):
			updated++
			r.Updated++
			em.Emit("config.contact.updated", w)
			changed = append(changed, w.ID)
		}
	}
	// Every entry of old stays; those not updated are unchanged.
	r.Unchanged += len(old) - updated
	return changed
}

// cloneInto sets *dst to a copy of src, or leaves it (an empty map) when
// src is empty.
func cloneInto[V any](dst *map[string]V, src map[string]V) {
	if len(src) > 0 {
		*dst = maps.Clone(src)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := append([]string(nil), s...)
	sort.Strings(out)
	j := 0
	for i := range out {
		if i == 0 || out[i] != out[i-1] {
			out[j] = out[i]
			j++
		}
	}
	return out[:j]
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Document returns the configuration as a document, each list sorted by
// key, so that applying it reproduces the configuration: to an empty
// engine when no user has a password, and always to the engine it came
// from. Password hashes and phones' passwords are shown as
// PasswordHashRedacted, which an apply resolves to the current value.
func (c Config) Document() Document {
	var d Document
	for _, k := range sortedKeys(c.BusinessUnits) {
		d.BusinessUnits = append(d.BusinessUnits, c.BusinessUnits[k])
	}
	for _, k := range sortedKeys(c.Users) {
		d.Users = append(d.Users, c.Users[k].redacted())
	}
	for _, k := range sortedKeys(c.Extensions) {
		d.Extensions = append(d.Extensions, c.Extensions[k].redacted())
	}
	for _, k := range sortedKeys(c.Queues) {
		d.Queues = append(d.Queues, c.Queues[k])
	}
	for _, k := range sortedKeys(c.Agents) {
		d.Agents = append(d.Agents, c.Agents[k])
	}
	st := c.Settings
	st.DirectoryFields = append([]string(nil), st.DirectoryFields...)
	st.DirectorySearch = slices.Clone(st.DirectorySearch)
	st.SIPServers = append([]string(nil), st.SIPServers...)
	if len(st.SIPServers) == 0 {
		st.SIPServers = nil
	}
	d.Settings = &st
	for _, k := range sortedKeys(c.PauseReasons) {
		d.PauseReasons = append(d.PauseReasons, c.PauseReasons[k])
	}
	for _, k := range sortedKeys(c.Contacts) {
		d.Contacts = append(d.Contacts, c.Contacts[k])
	}
	d.ExcludedNumbers = sortedKeys(c.ExcludedNumbers)
	if len(d.ExcludedNumbers) == 0 {
		d.ExcludedNumbers = nil
	}
	if c.Mail != nil {
		m := c.Mail.redacted()
		d.Mail = &m
	}
	if c.Callbacks != nil {
		cb := *c.Callbacks
		cb.ZoneData = nil // the edge reads the rules again (ResolveZones)
		d.Callbacks = &cb
	}
	if c.Chat != nil {
		cs := *c.Chat
		d.Chat = &cs
	}
	return d
}
