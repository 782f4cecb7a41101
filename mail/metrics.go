package mail

import (
	"github.com/prometheus/client_golang/prometheus"

	cc "github.com/tandemcc/tandem/contactcenter"
)

var (
	descUnreachable = prometheus.NewDesc("tandem_mail_server_unreachable", "1 while the leader cannot reach the IMAP server (retrying with back-off).", nil, nil)
	descWatching    = prometheus.NewDesc("tandem_mail_watching", "1 while this node watches the mailbox (IDLE or polling).", nil, nil)
	descMessages    = prometheus.NewDesc("tandem_mail_messages_total", "Messages this node recorded from the mailbox, by result.", []string{"result"}, nil)
	descFailures    = prometheus.NewDesc("tandem_mail_server_failures_total", "Failed attempts to reach or use the IMAP server on this node.", nil, nil)
	descOutages     = prometheus.NewDesc("tandem_mail_server_outages_total", "Outages of the IMAP server seen by this node (one alarm each).", nil, nil)
	descSessions    = prometheus.NewDesc("tandem_mail_imap_sessions", "IMAP sessions this node has open.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *Channel) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUnreachable, descWatching, descMessages, descFailures, descOutages, descSessions} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the status at scrape time.
func (c *Channel) Collect(ch chan<- prometheus.Metric) {
	s := c.Status()
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	ch <- prometheus.MustNewConstMetric(descUnreachable, prometheus.GaugeValue, b2f(s.Unreachable))
	ch <- prometheus.MustNewConstMetric(descWatching, prometheus.GaugeValue, b2f(s.State == "watching" || s.State == "polling"))
	for _, r := range []struct {
		name string
		n    uint64
	}{{"contact", s.Ingested}, {"duplicate", s.Duplicates}, {"skipped", s.Skipped}} {
		ch <- prometheus.MustNewConstMetric(descMessages, prometheus.CounterValue, float64(r.n), r.name)
	}
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(s.FailuresSeen))
	ch <- prometheus.MustNewConstMetric(descOutages, prometheus.CounterValue, float64(s.Outages))
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(s.Sessions))
}

// Register adds the channel's metrics to reg.
func (c *Channel) Register(reg prometheus.Registerer) { reg.MustRegister(c) }

var (
	descOutbox  = prometheus.NewDesc("tandem_mail_outbox", "Replies in the outbox, by state (the cluster's, as this node applied it).", []string{"state"}, nil)
	descReplies = prometheus.NewDesc("tandem_mail_replies_total", "Replies this node's sender handed to the SMTP server, by result.", []string{"result"}, nil)
)

// Describe implements prometheus.Collector.
func (s *Sender) Describe(ch chan<- *prometheus.Desc) {
	ch <- descOutbox
	ch <- descReplies
}

// Collect implements prometheus.Collector.
func (s *Sender) Collect(ch chan<- prometheus.Metric) {
	n := map[string]int{}
	for _, o := range s.Engine.Outbox("") {
		n[o.State]++
	}
	for _, st := range []string{cc.OutboxQueued, cc.OutboxSending, cc.OutboxSent, cc.OutboxFailed, cc.OutboxUncertain} {
		ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(n[st]), st)
	}
	s.mu.Lock()
	sent, failed := s.sent, s.fail
	s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descReplies, prometheus.CounterValue, float64(sent), "sent")
	ch <- prometheus.MustNewConstMetric(descReplies, prometheus.CounterValue, float64(failed), "not_sent")
}

// Register adds the sender's metrics to reg.
func (s *Sender) Register(reg prometheus.Registerer) { reg.MustRegister(s) }
