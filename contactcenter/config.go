package contactcenter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tandemcc/tandem/command"
)

// Document is a declarative configuration as administrators write it
// (tandemctl apply -f config.yaml). Every entity is keyed by its ID (an
// extension by its number); applying a document upserts the entities it
// names. With Prune, entities of the engine that the document does not name
// are removed, so the document becomes the whole configuration.
type Document struct {
	BusinessUnits []BusinessUnit `yaml:"business_units" json:"business_units,omitempty"`
	Users         []User         `yaml:"users" json:"users,omitempty"`
	Extensions    []Extension    `yaml:"extensions" json:"extensions,omitempty"`
	Queues        []Queue        `yaml:"queues" json:"queues,omitempty"`
	Agents        []Agent        `yaml:"agents" json:"agents,omitempty"`
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
}

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
}

// Queue is a voice (or other medium) queue served by agents.
type Queue struct {
	ID                  string `yaml:"id" json:"id"`
	Name                string `yaml:"name" json:"name,omitempty"`
	BusinessUnit        string `yaml:"business_unit" json:"business_unit,omitempty"`
	Strategy            string `yaml:"strategy" json:"strategy"`
	ServiceLevelSeconds int    `yaml:"service_level_seconds" json:"service_level_seconds"`
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
)

// Strategies are the routing strategies a queue may use.
var Strategies = []string{"longest-idle", "round-robin", "ring-all", "fewest-calls", "skills"}

// PhoneKinds are the kinds of phone an extension may have.
var PhoneKinds = []string{"sip", "web", "mobile"}

// Config is the applied configuration, keyed for lookup.
type Config struct {
	BusinessUnits map[string]BusinessUnit `json:"business_units"`
	Users         map[string]User         `json:"users"`
	Extensions    map[string]Extension    `json:"extensions"`
	Queues        map[string]Queue        `json:"queues"`
	Agents        map[string]Agent        `json:"agents"`
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

// ParseDocument decodes a YAML (or JSON, which is YAML) configuration
// document. Unknown fields are refused, naming the field and line.
func ParseDocument(b []byte) (Document, error) {
	var d Document
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return Document{}, errors.New("config: empty document")
		}
		return Document{}, fmt.Errorf("config: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Document{}, errors.New("config: more than one YAML document in the file")
	}
	return d, nil
}

// Validate checks a document on its own: every field well-formed. It does
// not check references, which need the merged configuration.
func (d Document) Validate() error {
	_, err := merge(emptyConfig(), d, true)
	return err
}

func (e *Engine) applyConfig(env command.Envelope, em *command.Emitter) (any, error) {
	var req ApplyRequest
	if err := json.Unmarshal(env.Payload, &req); err != nil {
		return nil, fmt.Errorf("decoding config.apply: %w", err)
	}
	next, err := merge(e.st.Config, req.Document, req.Prune)
	if err != nil {
		return nil, err
	}
	res := diff(e.st.Config, next, em)
	e.st.Config = next
	return res, nil
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
var extRE = regexp.MustCompile(`^[0-9]{2,15}$`)

// merge returns cur with d applied, or the first invalid field. cur is not
// modified.
func merge(cur Config, d Document, prune bool) (Config, error) {
	next := emptyConfig()
	if !prune {
		copyMap(next.BusinessUnits, cur.BusinessUnits)
		copyMap(next.Users, cur.Users)
		copyMap(next.Extensions, cur.Extensions)
		copyMap(next.Queues, cur.Queues)
		copyMap(next.Agents, cur.Agents)
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
	for i, b := range d.BusinessUnits {
		f := fmt.Sprintf("business_units[%d].id", i)
		if err := checkID(f, b.ID); err != nil {
			return Config{}, err
		}
		if err := dup("bu", f, b.ID); err != nil {
			return Config{}, err
		}
		next.BusinessUnits[b.ID] = b
	}
	for i, x := range d.Extensions {
		if err := checkExtension(fmt.Sprintf("extensions[%d]", i), x); err != nil {
			return Config{}, err
		}
		if err := dup("ext", fmt.Sprintf("extensions[%d].number", i), x.Number); err != nil {
			return Config{}, err
		}
		next.Extensions[x.Number] = normalizeExtension(x)
	}
	for i, u := range d.Users {
		f := fmt.Sprintf("users[%d]", i)
		if err := checkID(f+".id", u.ID); err != nil {
			return Config{}, err
		}
		if err := dup("user", f+".id", u.ID); err != nil {
			return Config{}, err
		}
		next.Users[u.ID] = u
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
		next.Queues[q.ID] = q
	}
	for i, a := range d.Agents {
		f := fmt.Sprintf("agents[%d]", i)
		if err := checkID(f+".id", a.ID); err != nil {
			return Config{}, err
		}
		if err := dup("agent", f+".id", a.ID); err != nil {
			return Config{}, err
		}
		for s, lvl := range a.Skills {
			if err := checkID(f+".skills", s); err != nil {
				return Config{}, err
			}
			if lvl < 1 || lvl > MaxSkillLevel {
				return Config{}, fieldErr(f+".skills."+s, "level %d is out of range 1..%d", lvl, MaxSkillLevel)
			}
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
	}
	for _, id := range sortedKeys(c.Queues) {
		q := c.Queues[id]
		if _, ok := c.BusinessUnits[q.BusinessUnit]; q.BusinessUnit != "" && !ok {
			return fieldErr("queues."+id+".business_unit", "business unit %q would no longer exist", q.BusinessUnit)
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

func checkID(field, id string) error {
	if !idRE.MatchString(id) {
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
	}
	return nil
}

func normalizeExtension(x Extension) Extension {
	phones := append([]Phone(nil), x.Phones...)
	for i := range phones {
		if phones[i].Kind == "" {
			phones[i].Kind = "sip"
		}
	}
	sort.Slice(phones, func(i, j int) bool { return phones[i].Position < phones[j].Position })
	if len(phones) == 0 {
		phones = nil
	}
	return Extension{Number: x.Number, Phones: phones}
}

// diff emits one event per created, updated or removed entity, in a
// deterministic order, and counts them.
func diff(old, next Config, em *command.Emitter) ApplyResult {
	var r ApplyResult
	diffKind(&r, em, "business_unit", old.BusinessUnits, next.BusinessUnits)
	diffKind(&r, em, "extension", old.Extensions, next.Extensions)
	diffKind(&r, em, "user", old.Users, next.Users)
	diffKind(&r, em, "queue", old.Queues, next.Queues)
	diffKind(&r, em, "agent", old.Agents, next.Agents)
	return r
}

func diffKind[V any](r *ApplyResult, em *command.Emitter, kind string, old, next map[string]V) {
	for _, k := range sortedKeys(next) {
		o, had := old[k]
		switch {
		case !had:
			r.Created++
			em.Emit("config."+kind+".created", next[k])
		case !reflect.DeepEqual(o, next[k]):
			r.Updated++
			em.Emit("config."+kind+".updated", next[k])
		default:
			r.Unchanged++
		}
	}
	for _, k := range sortedKeys(old) {
		if _, ok := next[k]; !ok {
			r.Removed++
			em.Emit("config."+kind+".removed", map[string]string{"id": k})
		}
	}
}

func copyMap[V any](dst, src map[string]V) {
	for k, v := range src {
		dst[k] = v
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
// key, so that applying it to an empty engine reproduces the configuration.
func (c Config) Document() Document {
	var d Document
	for _, k := range sortedKeys(c.BusinessUnits) {
		d.BusinessUnits = append(d.BusinessUnits, c.BusinessUnits[k])
	}
	for _, k := range sortedKeys(c.Users) {
		d.Users = append(d.Users, c.Users[k])
	}
	for _, k := range sortedKeys(c.Extensions) {
		d.Extensions = append(d.Extensions, c.Extensions[k])
	}
	for _, k := range sortedKeys(c.Queues) {
		d.Queues = append(d.Queues, c.Queues[k])
	}
	for _, k := range sortedKeys(c.Agents) {
		d.Agents = append(d.Agents, c.Agents[k])
	}
	return d
}
