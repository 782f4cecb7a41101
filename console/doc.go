// Package console is the operator console's API: the door through which
// operator consoles, the user portal and integrations act on the
// contact-center engine and watch it live.
//
// It owns the operator-facing vocabulary (operation names, sessions,
// password checks, the live event stream with resume by position) and
// translates it into engine commands committed through the cluster. It holds no replicated state of its own: every
// operation is a command of package contactcenter applied through
// cluster.Store, every read is a query of the engine at a known Raft
// index. It also serves the web console's pages (ui/, embedded) at
// /console/ and answers cross-origin requests from pages served by the
// cluster's other members (console failover). It must not import SIP,
// mail, web-form or SNMP code; those adapters may import it. See
// DESIGN.md.
package console
