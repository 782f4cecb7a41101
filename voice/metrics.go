package voice

import "github.com/prometheus/client_golang/prometheus"

// metrics are the SIP edge's counters in /metrics.
type metrics struct {
	requests      *prometheus.CounterVec // by method
	responses     *prometheus.CounterVec // by class
	malformed     *prometheus.CounterVec // dropped (unparseable), rejected (400), panic
	authFailures  *prometheus.CounterVec // by reason
	registrations *prometheus.CounterVec // registered, refreshed, unregistered, expired
	redirects     *prometheus.CounterVec // leader, unavailable
	overload      prometheus.Counter
	calls         *prometheus.CounterVec // queued, answered, abandoned
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_sip_requests_total",
			Help: "SIP requests received, by method (other: an unknown method)."}, []string{"method"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_sip_responses_total",
			Help: "SIP responses sent by the SIP edge, by class (2xx, 3xx, 4xx, 5xx)."}, []string{"class"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_sip_malformed_total",
			Help: "Malformed SIP messages: dropped (unparseable), rejected (answered 400), panic (a handler failed: 500)."}, []string{"action"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_sip_auth_failures_total",
			Help: "Digest authentications refused, by reason (wrong, unknown_user, replay, stale, malformed, realm, algorithm, qop, other_extension)."}, []string{"reason"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_sip_registrations_total",
			Help: "REGISTER outcomes on this leader: registered (committed), refreshed (nothing to commit), unregistered, expired."}, []string{"outcome"}),
		redirects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_sip_redirects_total",
			Help: "Requests a follower did not handle: leader (302 to the leader), unavailable (503, no leader known)."}, []string{"to"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_sip_calls_total",
			Help: "Queue calls on this leader: queued (call.incoming committed), answered (an agent's phone answered), abandoned (the caller left first), released (a new leader ended a call whose dialog died with the former leader); voicemail (a forward to voicemail answered and recording), voicemail_deposited (its message committed), voicemail_empty (no audio came), voicemail_refused (no G.711 offered, or no RTP socket)."}, []string{"outcome"}),
		overload: prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_sip_overload_total",
			Help: "Requests answered 503 because too many were in progress."}),
	}
}

// Register adds the SIP edge's metrics to reg, with the number of
// bindings this node holds (tandem_sip_bindings; 0 on a follower).
func (s *Server) Register(reg prometheus.Registerer) {
	m := s.metrics
	reg.MustRegister(m.requests, m.responses, m.malformed, m.authFailures, m.registrations, m.redirects, m.overload, m.calls,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tandem_sip_bindings",
			Help: "Phones registered with this node's registrar (the leader's; 0 on a follower)."},
			func() float64 { return float64(s.reg.count()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tandem_sip_leading",
			Help: "1 while this node's SIP edge handles requests (it leads), 0 while it redirects."},
			func() float64 {
				if s.leading.Load() {
					return 1
				}
				return 0
			}))
}
