package contactcenter

import (
	"sort"
	"strings"
	"time"

	"github.com/tandemcc/tandem/command"
)

// Multi-device extensions.
//
// An extension has at most MaxPhones phones at explicit positions (gaps
// allowed; a "primary" phone sits at position 0). Each phone has a ring
// order: the lowest order rings first, equal orders ring together, order
// 0 never rings, and a phone the user disabled never rings. The ring plan
// is the list of waves the telephony edge rings one after the other.
//
// Web phones: in "exclusive" mode (the default) a registered web phone
// rings alone, otherwise the other phones ring by order; in
// "multi-device" mode the web phone is one more phone ringing by order. A
// pool web phone cannot be in multi-device mode (refused by config).
//
// Secure phones get a SIP password the system generates — at the edge,
// never in the engine (no randomness here) — and passes in
// phone.set_secret. The engine keeps it outside State: no View, document,
// event or result ever carries it; only PhoneSecret and PhonePasswords
// (phonepass.go, with the previous secret during its grace) hand it to
// the SIP registrar, and PhoneProvisioning to the administrators'
// provisioning route.

// PhoneState is a phone's registration. Contact, ExpiresSeconds and
// ExpiresAt are the SIP registrar's binding (voice/DESIGN.md): replicated
// so that a new leader rings the phone at once after a failover and
// expires it when the leader that granted it would have; empty when the
// phone is not registered or the reporter gave none.
type PhoneState struct {
	Registered     bool   `json:"registered"`
	Since          int64  `json:"since"`
	Contact        string `json:"contact,omitempty"`
	ExpiresSeconds int    `json:"expires_seconds,omitempty"`
	ExpiresAt      int64  `json:"expires_at,omitempty"`
}

type phoneSecret struct {
	Secret    string `json:"secret"`
	RotatedAt int64  `json:"rotated_at"`
	ExpiresAt int64  `json:"expires_at"`
	Expired   bool   `json:"expired,omitempty"`
	// Previous is the secret this one replaced, which keeps working
	// until PreviousUntil (the grace period, phonepass.go); cleared by
	// the tick at or after it.
	Previous      string `json:"previous,omitempty"`
	PreviousUntil int64  `json:"previous_until,omitempty"`
}

func phoneKey(ext, phone string) string { return ext + "/" + phone }

func splitPhoneKey(k string) (string, string) {
	ext, phone, _ := strings.Cut(k, "/")
	return ext, phone
}

func (e *Engine) phoneConf(key string) (Phone, bool) {
	ext, id := splitPhoneKey(key)
	for _, p := range e.st.Config.Extensions[ext].Phones {
		if p.ID == id {
			return p, true
		}
	}
	return Phone{}, false
}

func (e *Engine) phone(op, ext, id string) (Phone, error) {
	if ext == "" {
		return Phone{}, fieldErr("extension", "missing")
	}
	if id == "" {
		return Phone{}, fieldErr("phone", "missing")
	}
	if _, ok := e.st.Config.Extensions[ext]; !ok {
		return Phone{}, opErr(ErrUnknownExtension, op, "unknown extension %q", ext)
	}
	p, ok := e.phoneConf(phoneKey(ext, id))
	if !ok {
		return Phone{}, opErr(ErrUnknownPhone, op, "extension %q has no phone %q", ext, id)
	}
	return p, nil
}

// RingPlan returns the waves in which an extension's phones ring.
func (e *Engine) RingPlan(ext string) ([][]string, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if _, ok := e.st.Config.Extensions[ext]; !ok {
		return nil, opErr(ErrUnknownExtension, "ring plan", "unknown extension %q", ext)
	}
	return e.ringPlan(ext), nil
}

func (e *Engine) ringPlan(ext string) [][]string {
	x := e.st.Config.Extensions[ext]
	mode := "exclusive"
	if u, ok := e.extUser[ext]; ok && e.st.Config.Users[u].WebPhoneMode != "" {
		mode = e.st.Config.Users[u].WebPhoneMode
	}
	if mode == "exclusive" {
		var web []string
		for _, p := range x.Phones {
			if p.Kind == "web" && !p.Disabled {
				if ps := e.st.Phones[phoneKey(ext, p.ID)]; ps != nil && ps.Registered {
					web = append(web, p.ID)
				}
			}
		}
		if len(web) > 0 {
			return [][]string{web}
		}
	}
	phones := make([]Phone, 0, len(x.Phones))
	for _, p := range x.Phones {
		if p.Order == 0 || p.Disabled || (mode == "exclusive" && p.Kind == "web") {
			continue
		}
		phones = append(phones, p)
	}
	sort.SliceStable(phones, func(i, j int) bool {
		if phones[i].Order != phones[j].Order {
			return phones[i].Order < phones[j].Order
		}
		return phones[i].Position < phones[j].Position
	})
	waves := [][]string{}
	for i, p := range phones {
		if i == 0 || p.Order != phones[i-1].Order {
			waves = append(waves, nil)
		}
		waves[len(waves)-1] = append(waves[len(waves)-1], p.ID)
	}
	return waves
}

// PhoneView is what a user (portal) sees of a phone. It has no secret.
type PhoneView struct {
	Phone
	Registered      bool  `json:"registered"`
	SecretExpiresAt int64 `json:"secret_expires_at,omitempty"`
	SecretValid     bool  `json:"secret_valid,omitempty"`
}

// Phones lists an extension's phones by position.
func (e *Engine) Phones(ext string) ([]PhoneView, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	x, ok := e.st.Config.Extensions[ext]
	if !ok {
		return nil, false
	}
	out := make([]PhoneView, 0, len(x.Phones))
	for _, p := range x.Phones {
		v := PhoneView{Phone: p}
		v.Password = "" // users never see it, nor whether there is one
		if ps := e.st.Phones[phoneKey(ext, p.ID)]; ps != nil {
			v.Registered = ps.Registered
		}
		if s := e.secrets[phoneKey(ext, p.ID)]; s != nil {
			v.SecretExpiresAt = s.ExpiresAt
			v.SecretValid = !s.Expired && s.ExpiresAt > e.st.Clock
		}
		out = append(out, v)
	}
	return out, true
}

// PhoneSecret hands a secure phone's current SIP password to the SIP
// registrar (and nothing else). ok is false when there is none or it has
// expired.
func (e *Engine) PhoneSecret(ext, phone string) (secret string, ok bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	s := e.secrets[phoneKey(ext, phone)]
	if s == nil || s.Expired || s.ExpiresAt <= e.st.Clock {
		return "", false
	}
	return s.Secret, true
}

// PhoneRef names a phone of an extension.
type PhoneRef struct {
	Extension string `json:"extension"`
	Phone     string `json:"phone"`
	// ExpiresAt of the current secret, 0 when it has none.
	ExpiresAt int64 `json:"expires_at,omitempty"`
}

// SecretsDue lists the secure phones whose secret is missing or expires
// within the horizon: the edge generates and rotates their passwords.
func (e *Engine) SecretsDue(within time.Duration) []PhoneRef {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []PhoneRef
	limit := e.st.Clock + int64(within)
	for _, ext := range sortedKeys(e.st.Config.Extensions) {
		for _, p := range e.st.Config.Extensions[ext].Phones {
			if !p.Secure {
				continue
			}
			s := e.secrets[phoneKey(ext, p.ID)]
			switch {
			case s == nil:
				out = append(out, PhoneRef{Extension: ext, Phone: p.ID})
			case s.ExpiresAt <= limit:
				out = append(out, PhoneRef{Extension: ext, Phone: p.ID, ExpiresAt: s.ExpiresAt})
			}
		}
	}
	return out
}

// PhoneRegistrationRequest is the payload of phone.registration, reported
// by the SIP registrar. Contact is the phone's SIP contact URI,
// ExpiresSeconds the registration interval it was granted and ExpiresAt
// when that interval ends (Unix ns, stamped by the leader's edge from its
// clock: the command carries it, Apply reads no clock) — all optional,
// only with registered.
type PhoneRegistrationRequest struct {
	Extension      string `json:"extension"`
	Phone          string `json:"phone"`
	Registered     bool   `json:"registered"`
	Contact        string `json:"contact,omitempty"`
	ExpiresSeconds int    `json:"expires_seconds,omitempty"`
	ExpiresAt      int64  `json:"expires_at,omitempty"`
}

// MaxRegistrationSeconds bounds phone.registration's expires_seconds.
const MaxRegistrationSeconds = 86400

// Registration is a registered phone's binding (Registrations).
type Registration struct {
	Extension      string `json:"extension"`
	Phone          string `json:"phone"`
	Contact        string `json:"contact,omitempty"`
	ExpiresSeconds int    `json:"expires_seconds,omitempty"`
	ExpiresAt      int64  `json:"expires_at,omitempty"`
	Since          int64  `json:"since"`
}

// Registrations lists the registered phones of configured extensions with
// their bindings, sorted by extension and phone: what a new leader's SIP
// registrar starts from.
func (e *Engine) Registrations() []Registration {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []Registration
	for _, key := range sortedKeys(e.st.Phones) {
		ps := e.st.Phones[key]
		if ps == nil || !ps.Registered {
			continue
		}
		if _, ok := e.phoneConf(key); !ok {
			continue
		}
		ext, phone := splitPhoneKey(key)
		out = append(out, Registration{Extension: ext, Phone: phone, Contact: ps.Contact,
			ExpiresSeconds: ps.ExpiresSeconds, ExpiresAt: ps.ExpiresAt, Since: ps.Since})
	}
	return out
}

func (e *Engine) cmdPhoneRegistration(env command.Envelope) (any, error) {
	var p PhoneRegistrationRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	ph, err := e.phone("registration", p.Extension, p.Phone)
	if err != nil {
		return nil, err
	}
	if p.ExpiresSeconds < 0 || p.ExpiresSeconds > MaxRegistrationSeconds {
		return nil, fieldErr("expires_seconds", "%d is out of range 0..%d", p.ExpiresSeconds, MaxRegistrationSeconds)
	}
	if !p.Registered && (p.Contact != "" || p.ExpiresSeconds != 0 || p.ExpiresAt != 0) {
		return nil, fieldErr("contact", "only with registered")
	}
	// The expiry is the granting leader's now + interval: within the
	// interval (and a minute of slack) of the command's leader-stamped time.
	slack := int64(60 * time.Second)
	if p.ExpiresAt != 0 && (p.ExpiresAt < e.now-slack || p.ExpiresAt > e.now+int64(p.ExpiresSeconds)*int64(time.Second)+slack) {
		return nil, fieldErr("expires_at", "%d is not within expires_seconds of the command's time", p.ExpiresAt)
	}
	key := phoneKey(p.Extension, p.Phone)
	if p.Registered && ph.Secure {
		if s := e.secrets[key]; s == nil || s.Expired || s.ExpiresAt <= e.now {
			return nil, opErr(ErrNotSecure, "registration", "secure phone %q of extension %q has no valid secret", p.Phone, p.Extension)
		}
	}
	ps := e.st.Phones[key]
	if ps == nil {
		ps = &PhoneState{}
		e.st.Phones[key] = ps
	}
	if ps.Registered != p.Registered {
		ps.Registered, ps.Since = p.Registered, e.now
	}
	ps.Contact, ps.ExpiresSeconds, ps.ExpiresAt = p.Contact, p.ExpiresSeconds, p.ExpiresAt
	ev := PhoneRegEvent{Extension: p.Extension, Phone: p.Phone, Registered: p.Registered}
	e.emit(EvPhoneRegistration, ev)
	return ev, nil
}

// SetSecretRequest is the payload of phone.set_secret: the edge generated
// a new SIP password for a secure phone (first provisioning or rotation).
type SetSecretRequest struct {
	Extension string    `json:"extension"`
	Phone     string    `json:"phone"`
	Secret    string    `json:"secret"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Secret length bounds.
const (
	MinSecretLen = 16
	MaxSecretLen = 256
)

func (e *Engine) cmdPhoneSetSecret(env command.Envelope) (any, error) {
	var p SetSecretRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	ph, err := e.phone("set secret", p.Extension, p.Phone)
	if err != nil {
		return nil, err
	}
	if !ph.Secure {
		return nil, opErr(ErrNotSecure, "set secret", "phone %q of extension %q is not secure; only secure phones get system passwords", p.Phone, p.Extension)
	}
	// Never echo the secret in an error.
	if n := len(p.Secret); n < MinSecretLen || n > MaxSecretLen {
		return nil, fieldErr("secret", "must be %d to %d characters", MinSecretLen, MaxSecretLen)
	}
	for _, r := range p.Secret {
		if r <= ' ' || r > '~' {
			return nil, fieldErr("secret", "must be printable ASCII without spaces")
		}
	}
	exp := p.ExpiresAt.UnixNano()
	if p.ExpiresAt.IsZero() || exp <= e.now {
		return nil, fieldErr("expires_at", "must be in the future")
	}
	key := phoneKey(p.Extension, p.Phone)
	next := &phoneSecret{Secret: p.Secret, RotatedAt: e.now, ExpiresAt: exp}
	switch old := e.secrets[key]; {
	case old == nil:
	case old.Secret == p.Secret:
		// The same secret again (a retried rotation): no grace for it.
		next.Previous, next.PreviousUntil = old.Previous, old.PreviousUntil
	default:
		// The replaced secret keeps working for the grace period.
		if until := e.graceFor(old, e.now); until > 0 {
			next.Previous, next.PreviousUntil = old.Secret, until
		}
	}
	e.secrets[key] = next
	ev := SecretEvent{Extension: p.Extension, Phone: p.Phone, ExpiresAt: exp, GraceUntil: next.PreviousUntil}
	e.emit(EvPhoneSecretRotated, ev)
	return ev, nil
}

// PhoneOrderRequest is the payload of phone.set_order (user portal).
type PhoneOrderRequest struct {
	Extension string `json:"extension"`
	Phone     string `json:"phone"`
	Order     int    `json:"order"`
}

// PhoneRingingRequest is the payload of phone.set_ringing (user portal).
type PhoneRingingRequest struct {
	Extension string `json:"extension"`
	Phone     string `json:"phone"`
	Enabled   bool   `json:"enabled"`
}

func (e *Engine) cmdPhoneSetOrder(env command.Envelope) (any, error) {
	var p PhoneOrderRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if _, err := e.phone("set order", p.Extension, p.Phone); err != nil {
		return nil, err
	}
	if p.Order < 0 || p.Order > MaxPhoneOrder {
		return nil, fieldErr("order", "%d is out of range 0..%d", p.Order, MaxPhoneOrder)
	}
	return e.updatePhone(p.Extension, p.Phone, func(ph *Phone) { ph.Order = p.Order }), nil
}

func (e *Engine) cmdPhoneSetRinging(env command.Envelope) (any, error) {
	var p PhoneRingingRequest
	if err := e.decode(env, &p); err != nil {
		return nil, err
	}
	if _, err := e.phone("set ringing", p.Extension, p.Phone); err != nil {
		return nil, err
	}
	return e.updatePhone(p.Extension, p.Phone, func(ph *Phone) { ph.Disabled = !p.Enabled }), nil
}

// updatePhone changes one phone of the configuration (copy on write) and
// announces the extension as config.extension.updated.
func (e *Engine) updatePhone(ext, id string, fn func(*Phone)) Extension {
	x := e.st.Config.Extensions[ext]
	phones := append([]Phone(nil), x.Phones...)
	for i := range phones {
		if phones[i].ID == id {
			fn(&phones[i])
		}
	}
	x.Phones = phones
	e.st.Config.Extensions[ext] = x
	e.emit("config.extension.updated", x.redacted())
	return x.redacted()
}
