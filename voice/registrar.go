package voice

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
)

// The registrar (RFC 3261 §10.3). A phone is one binding: the digest
// user names the phone, the To header its extension (the address of
// record), and the one Contact it registers is where it rings. Bindings
// live on the leader (this table) and in the engine: every REGISTER that
// binds (a refresh too, for its new expiry), un-registers, and every
// expiry is a phone.registration command committed before the phone is
// answered.

// binding is a registered phone as the leader's registrar knows it.
type binding struct {
	ext, phone string
	contact    string    // the Contact URI as registered (replicated)
	interval   int       // seconds granted (replicated)
	expires    time.Time // on the granting leader's clock (replicated)
	callID     string
	cseq       uint32
}

type registrar struct {
	s     *Server
	mu    sync.Mutex
	binds map[string]*binding // "ext/phone"
	locks [64]sync.Mutex      // one REGISTER at a time per phone (striped)
}

func bindKey(ext, phone string) string { return ext + "/" + phone }

func (r *registrar) lock(key string) func() {
	h := fnv.New32a()
	h.Write([]byte(key))
	m := &r.locks[h.Sum32()%uint32(len(r.locks))]
	m.Lock()
	return m.Unlock
}

func (r *registrar) get(key string) (binding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.binds[key]
	if !ok {
		return binding{}, false
	}
	return *b, true
}

// extension lists the bindings of an extension, by phone.
func (r *registrar) extension(ext string) []binding {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []binding
	for _, b := range r.binds {
		if b.ext == ext {
			out = append(out, *b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].phone < out[j].phone })
	return out
}

// Contact returns where a registered phone rings ("" when it is not).
func (r *registrar) Contact(ext, phone string) string {
	b, ok := r.get(bindKey(ext, phone))
	if !ok {
		return ""
	}
	return b.contact
}

// count is the number of bindings (a gauge).
func (r *registrar) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.binds)
}

// seed loads the engine's replicated bindings when this node becomes
// leader: each registered phone keeps its contact and the expiry the
// former leader granted (one already past is expired by the next round
// of the expiry loop). A binding committed without an expiry (by an
// older version) gets a whole interval from now.
func (r *registrar) seed(regs []contactcenter.Registration, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.binds = make(map[string]*binding, len(regs))
	for _, g := range regs {
		iv := g.ExpiresSeconds
		if iv <= 0 {
			iv = int(r.s.cfg.MaxExpires / time.Second)
		}
		exp := now.Add(time.Duration(iv) * time.Second)
		if g.ExpiresAt != 0 {
			exp = time.Unix(0, g.ExpiresAt)
		}
		r.binds[bindKey(g.Extension, g.Phone)] = &binding{ext: g.Extension, phone: g.Phone, contact: g.Contact,
			interval: iv, expires: exp}
	}
}

// clear forgets every binding (this node stopped leading).
func (r *registrar) clear() {
	r.mu.Lock()
	r.binds = map[string]*binding{}
	r.mu.Unlock()
}

// regError is a REGISTER refused with a SIP status.
type regError struct {
	code   int
	reason string
	hdrs   []sip.Header
}

func (e *regError) Error() string { return strconv.Itoa(e.code) + " " + e.reason }

func refuse(code int, reason string, hdrs ...sip.Header) *regError {
	return &regError{code: code, reason: reason, hdrs: hdrs}
}

// contactReq is one Contact of a REGISTER.
type contactReq struct {
	uri     string
	expires int // seconds asked
	star    bool
}

// parseContacts reads the Contact headers and the expiry each asks for.
func (r *registrar) parseContacts(req *sip.Request) ([]contactReq, error) {
	def := int(r.s.cfg.DefaultExpires / time.Second)
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			return nil, refuse(sip.StatusBadRequest, "Bad Expires")
		}
		def = int(min(n, 1<<31-1))
	}
	var out []contactReq
	for _, h := range req.GetHeaders("Contact") {
		var c sip.ContactHeader
		if ch, ok := h.(*sip.ContactHeader); ok {
			c = *ch
		} else {
			v := strings.TrimSpace(h.Value())
			if v == "*" {
				c.Address.Wildcard = true
			} else if _, err := sip.ParseAddressValue(v, &c.Address, &c.Params); err != nil {
				return nil, refuse(sip.StatusBadRequest, "Bad Contact")
			}
		}
		cr := contactReq{expires: def, star: c.Address.Wildcard}
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return nil, refuse(sip.StatusBadRequest, "Bad Contact expires")
			}
			cr.expires = int(min(n, 1<<31-1))
		}
		if !cr.star {
			if s := c.Address.Scheme; s != "sip" && s != "sips" {
				return nil, refuse(sip.StatusBadRequest, "Contact must be a SIP URI")
			}
			cr.uri = c.Address.String()
			if len(cr.uri) > contactcenter.MaxURILen {
				return nil, refuse(sip.StatusBadRequest, "Contact too long")
			}
		}
		out = append(out, cr)
		if len(out) > contactcenter.MaxPhones {
			return nil, refuse(sip.StatusBadRequest, "Too many contacts")
		}
	}
	return out, nil
}

// register handles an authenticated REGISTER of phone (ext, phone). It
// returns the 200's Contact headers, or a *regError.
func (r *registrar) register(ctx context.Context, req *sip.Request, ext, phone string) ([]sip.Header, error) {
	key := bindKey(ext, phone)
	unlock := r.lock(key)
	defer unlock()

	contacts, err := r.parseContacts(req)
	if err != nil {
		return nil, err
	}
	callID := ""
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	var cseq uint32
	if h := req.CSeq(); h != nil {
		cseq = h.SeqNo
	}
	cur, have := r.get(key)
	now := r.s.now()

	// What the request asks: remove (a "*" or expiry 0 on the current
	// contact), bind one contact, or nothing (a query).
	var want *contactReq
	remove := false
	for i := range contacts {
		c := &contacts[i]
		switch {
		case c.star:
			if len(contacts) != 1 || c.expires != 0 {
				return nil, refuse(sip.StatusBadRequest, "Contact * needs Expires: 0 and no other contact")
			}
			remove = true
		case c.expires == 0:
			if have && sameContact(c.uri, cur.contact) {
				remove = true
			}
		default:
			if want != nil {
				return nil, refuse(sip.StatusBadRequest, "One contact per phone")
			}
			want = c
		}
	}
	if want != nil && remove {
		// A phone moving: the new contact replaces the old one.
		remove = false
	}
	if have && callID == cur.callID && cseq <= cur.cseq && (want != nil || remove) {
		return nil, refuse(sip.StatusInternalServerError, "Out of order REGISTER")
	}

	switch {
	case want != nil:
		minE := int(r.s.cfg.MinExpires / time.Second)
		if want.expires < minE {
			return nil, refuse(sip.StatusIntervalToBrief, "Interval Too Brief",
				sip.NewHeader("Min-Expires", strconv.Itoa(minE)))
		}
		iv := min(want.expires, int(r.s.cfg.MaxExpires/time.Second))
		nb := binding{ext: ext, phone: phone, contact: want.uri, interval: iv,
			expires: now.Add(time.Duration(iv) * time.Second), callID: callID, cseq: cseq}
		// Every REGISTER that binds is committed, a refresh too: the
		// expiry it grants is replicated exactly, so a new leader expires
		// the phone when this one would have.
		if err := r.commit(ctx, ext, phone, true, nb.contact, iv, nb.expires, "register:"+callID+":"+strconv.FormatUint(uint64(cseq), 10)); err != nil {
			return nil, err
		}
		if !have || cur.contact != nb.contact || cur.interval != nb.interval {
			r.s.metrics.registrations.WithLabelValues("registered").Inc()
		} else {
			r.s.metrics.registrations.WithLabelValues("refreshed").Inc()
		}
		r.mu.Lock()
		r.binds[key] = &nb
		r.mu.Unlock()
	case remove:
		if err := r.commit(ctx, ext, phone, false, "", 0, time.Time{}, "unregister:"+callID+":"+strconv.FormatUint(uint64(cseq), 10)); err != nil {
			return nil, err
		}
		r.s.metrics.registrations.WithLabelValues("unregistered").Inc()
		r.mu.Lock()
		delete(r.binds, key)
		r.mu.Unlock()
	}
	return r.contactHeaders(ext, now), nil
}

// contactHeaders lists an extension's bindings with the seconds each has
// left (RFC 3261 §10.3 step 8).
func (r *registrar) contactHeaders(ext string, now time.Time) []sip.Header {
	var out []sip.Header
	for _, b := range r.extension(ext) {
		left := int(b.expires.Sub(now) / time.Second)
		if left < 0 {
			left = 0
		}
		out = append(out, sip.NewHeader("Contact", "<"+b.contact+">;expires="+strconv.Itoa(left)))
	}
	return out
}

func sameContact(a, b string) bool { return strings.EqualFold(a, b) }

// commit proposes phone.registration and waits for it; a refusal by the
// engine (an unknown phone, a secure phone without a valid secret) is a
// 403, a cluster that cannot commit a 503 — nothing is acknowledged that
// was not committed.
func (r *registrar) commit(ctx context.Context, ext, phone string, registered bool, contact string, interval int, expires time.Time, key string) error {
	p := contactcenter.PhoneRegistrationRequest{Extension: ext, Phone: phone, Registered: registered,
		Contact: contact, ExpiresSeconds: interval}
	if registered {
		p.ExpiresAt = expires.UnixNano()
	}
	ctx, cancel := context.WithTimeout(ctx, r.s.cfg.CommitTimeout)
	defer cancel()
	_, err := r.s.cfg.Store.Propose(ctx, contactcenter.TypePhoneRegistration, p,
		cluster.WithKey("voice:"+bindKey(ext, phone)+":"+key))
	if err == nil {
		return nil
	}
	var ref *cluster.Refusal
	if errors.As(err, &ref) {
		r.s.log.Info("registration refused by the engine", "extension", ext, "phone", phone, "err", err)
		return refuse(sip.StatusForbidden, "Forbidden")
	}
	r.s.log.Warn("registration not committed", "extension", ext, "phone", phone, "err", err)
	return refuse(sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
}

// expire commits the un-registration of every binding whose time passed
// without a refresh (the leader's expiry loop, and tests with a chosen
// clock). It returns how many it committed.
func (r *registrar) expire(ctx context.Context, now time.Time) int {
	r.mu.Lock()
	var due []binding
	for _, b := range r.binds {
		if !b.expires.After(now) {
			due = append(due, *b)
		}
	}
	r.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return bindKey(due[i].ext, due[i].phone) < bindKey(due[j].ext, due[j].phone) })
	n := 0
	for _, b := range due {
		key := bindKey(b.ext, b.phone)
		unlock := r.lock(key)
		cur, ok := r.get(key)
		if ok && !cur.expires.After(now) {
			err := r.commit(ctx, b.ext, b.phone, false, "", 0, time.Time{}, fmt.Sprintf("expired:%d", cur.expires.UnixNano()))
			var re *regError
			if err == nil || (errors.As(err, &re) && re.code == sip.StatusForbidden) {
				// Refused: the phone is gone from the configuration.
				r.mu.Lock()
				delete(r.binds, key)
				r.mu.Unlock()
				if err == nil {
					n++
					r.s.metrics.registrations.WithLabelValues("expired").Inc()
				}
			}
		}
		unlock()
	}
	return n
}
