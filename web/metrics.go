package web

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts the public API's answers by route and code
// (tandem_web_requests_total{op, result, code}); code "0" is an
// accepted request. The zero value and nil count nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	// Callbacks and Chats, when set, count the create requests' answers
	// for the SNMP contact table (tandemContactRequestsAccepted/Refused).
	Callbacks, Chats *Contacts
}

// NewMetrics makes the counters and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tandem_web_requests_total",
		Help: "Requests of the public web API (web callbacks) by operation, result (accepted, refused) and web.md code (0 when accepted).",
	}, []string{"op", "result", "code"})}
	reg.MustRegister(m.requests)
	return m
}

func (m *Metrics) count(op string, code int) {
	if m == nil {
		return
	}
	switch op {
	case "callback_create":
		m.Callbacks.request(code)
	case "chat_create":
		m.Chats.request(code)
	}
	if m.requests == nil {
		return
	}
	result := "accepted"
	if code != 0 {
		result = "refused"
	}
	m.requests.WithLabelValues(op, result, strconv.Itoa(code)).Inc()
}
