package reporting

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Status is the outcome of one diagnostic check.
type Status string

// Check outcomes.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn"
	StatusFail Status = "FAIL"
	StatusSkip Status = "skipped"
)

// Names of the checks, in the order they run.
const (
	CheckDSN            = "dsn"
	CheckNameResolution = "name resolution"
	CheckConnectivity   = "connectivity"
	CheckCredentials    = "credentials"
	CheckClockSkew      = "clock skew"
	CheckSchemaVersion  = "schema version"
	CheckPrivileges     = "privileges"
	CheckDelivery       = "delivery"
)

// MaxClockSkew is the largest difference between the database server's
// clock and this node's that passes the clock-skew check.
const MaxClockSkew = 2 * time.Second

// CheckResult is one diagnostic check.
type CheckResult struct {
	Name    string        `json:"name"`
	Status  Status        `json:"status"`
	Detail  string        `json:"detail"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Report is the result of Check: what a numbered diagnostic file records.
type Report struct {
	Target  string        `json:"target"` // user@host:port/dbname, never the password
	Cluster string        `json:"cluster"`
	Schema  string        `json:"schema"`
	Time    time.Time     `json:"time"`
	Checks  []CheckResult `json:"checks"`
}

// OK reports whether no check failed (warnings pass).
func (r Report) OK() bool { return r.Err() == nil }

// Err returns the first failed check as an error, or nil.
func (r Report) Err() error {
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			return fmt.Errorf("reporting database %s: %s: %s", r.Target, c.Name, c.Detail)
		}
	}
	return nil
}

// Get returns the check named name.
func (r Report) Get(name string) (CheckResult, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return CheckResult{}, false
}

// String renders the report as the lines of a diagnostic file.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "reporting database %s (schema %s, cluster %s) checked at %s\n",
		r.Target, r.Schema, r.Cluster, r.Time.UTC().Format(time.RFC3339))
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "%-7s %-16s %s", c.Status, c.Name, c.Detail)
		if c.Status != StatusSkip {
			fmt.Fprintf(&b, " (%s)", c.Elapsed.Round(time.Microsecond))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Check diagnoses a reporting DSN without changing anything: that it
// parses, that its host names resolve, that the server accepts a
// connection, that the credentials are accepted, the server's clock skew,
// the schema version, the privileges Tandem needs, and the cluster's
// delivery position. Checks that depend on a failed one are skipped.
func Check(ctx context.Context, dsn string, opts ...Option) Report {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	r := Report{Cluster: o.cluster, Schema: o.schema, Time: o.now()}
	start := time.Now()
	db, err := newDB(dsn, o)
	if err != nil {
		r.Target = "(unparsable DSN)"
		r.add(CheckDSN, StatusFail, err.Error(), start)
		r.skipRest(CheckNameResolution, CheckConnectivity, CheckCredentials, CheckClockSkew,
			CheckSchemaVersion, CheckPrivileges, CheckDelivery)
		return r
	}
	r.Target = db.target
	r.add(CheckDSN, StatusOK, "parses", start)
	db.runChecks(ctx, &r)
	return r
}

// Check runs the diagnostic checks on a fresh connection with db's
// settings.
func (db *DB) Check(ctx context.Context) Report {
	r := Report{Target: db.target, Cluster: db.opts.cluster, Schema: db.schema, Time: db.opts.now()}
	r.add(CheckDSN, StatusOK, "parses", time.Now())
	db.runChecks(ctx, &r)
	return r
}

func (r *Report) add(name string, st Status, detail string, start time.Time) {
	r.Checks = append(r.Checks, CheckResult{Name: name, Status: st, Detail: detail, Elapsed: time.Since(start)})
}

func (r *Report) skipRest(names ...string) {
	for _, n := range names {
		r.Checks = append(r.Checks, CheckResult{Name: n, Status: StatusSkip, Detail: "an earlier check failed"})
	}
}

type endpoint struct{ host, port string }

func (db *DB) endpoints() []endpoint {
	eps := []endpoint{{db.cfg.Host, strconv.Itoa(int(db.cfg.Port))}}
	for _, f := range db.cfg.Fallbacks {
		eps = append(eps, endpoint{f.Host, strconv.Itoa(int(f.Port))})
	}
	return eps
}

func (db *DB) runChecks(ctx context.Context, r *Report) {
	timeout := db.cfg.ConnectTimeout

	// Name resolution.
	start := time.Now()
	var (
		resolved []string
		failed   []string
	)
	for _, ep := range db.endpoints() {
		switch {
		case strings.HasPrefix(ep.host, "/"):
			resolved = append(resolved, ep.host+" (unix socket directory)")
		case net.ParseIP(ep.host) != nil:
			resolved = append(resolved, ep.host+" (address)")
		default:
			lctx, cancel := context.WithTimeout(ctx, timeout)
			addrs, err := net.DefaultResolver.LookupHost(lctx, ep.host)
			cancel()
			if err != nil {
				var dnsErr *net.DNSError
				msg := err.Error()
				if errors.As(err, &dnsErr) {
					msg = dnsErr.Err
				}
				failed = append(failed, fmt.Sprintf("cannot resolve %q: %s", ep.host, msg))
			} else {
				resolved = append(resolved, ep.host+" → "+strings.Join(addrs, ", "))
			}
		}
	}
	if len(resolved) == 0 {
		r.add(CheckNameResolution, StatusFail, strings.Join(failed, "; ")+": check the host name in the DSN and DNS", start)
		r.skipRest(CheckConnectivity, CheckCredentials, CheckClockSkew, CheckSchemaVersion, CheckPrivileges, CheckDelivery)
		return
	}
	st := StatusOK
	if len(failed) > 0 {
		st = StatusWarn
	}
	r.add(CheckNameResolution, st, strings.Join(append(resolved, failed...), "; "), start)

	// Connectivity: a plain TCP (or unix socket) connection.
	start = time.Now()
	var (
		reached []string
		refused []string
	)
	for _, ep := range db.endpoints() {
		network, addr := "tcp", net.JoinHostPort(ep.host, ep.port)
		if strings.HasPrefix(ep.host, "/") {
			network, addr = "unix", ep.host+"/.s.PGSQL."+ep.port
		}
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			refused = append(refused, fmt.Sprintf("%s: %s", addr, dialProblem(err)))
			continue
		}
		c.Close()
		reached = append(reached, addr)
	}
	if len(reached) == 0 {
		r.add(CheckConnectivity, StatusFail, strings.Join(refused, "; ")+": is PostgreSQL running and listening there, and does a firewall allow it?", start)
		r.skipRest(CheckCredentials, CheckClockSkew, CheckSchemaVersion, CheckPrivileges, CheckDelivery)
		return
	}
	st = StatusOK
	if len(refused) > 0 {
		st = StatusWarn
	}
	r.add(CheckConnectivity, st, "reached "+strings.Join(append(reached, refused...), "; "), start)

	// Credentials: a real PostgreSQL session.
	start = time.Now()
	conn, err := db.connect(ctx)
	if err != nil {
		r.add(CheckCredentials, StatusFail, err.Error(), start)
		r.skipRest(CheckClockSkew, CheckSchemaVersion, CheckPrivileges, CheckDelivery)
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	r.add(CheckCredentials, StatusOK, fmt.Sprintf("user %q logged in to database %q (PostgreSQL %s)",
		db.cfg.User, db.cfg.Database, conn.PgConn().ParameterStatus("server_version")), start)

	// Clock skew against this node.
	start = time.Now()
	var server time.Time
	before := db.opts.now()
	err = conn.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&server)
	after := db.opts.now()
	if err != nil {
		r.add(CheckClockSkew, StatusFail, db.opError("reading the server clock", err).Error(), start)
	} else {
		skew := server.Sub(before.Add(after.Sub(before) / 2))
		abs := max(skew, -skew)
		detail := fmt.Sprintf("server clock is %s %s this node's", abs.Round(time.Millisecond), map[bool]string{true: "ahead of", false: "behind"}[skew >= 0])
		if abs > MaxClockSkew {
			r.add(CheckClockSkew, StatusWarn, detail+fmt.Sprintf(", more than %s: synchronise the clocks (NTP)", MaxClockSkew), start)
		} else {
			r.add(CheckClockSkew, StatusOK, detail, start)
		}
	}

	// Schema version.
	start = time.Now()
	v, err := schemaVersion(ctx, conn, db.schema)
	current := false
	switch {
	case err != nil:
		r.add(CheckSchemaVersion, StatusFail, db.opError("reading the schema version", err).Error(), start)
	case v == 0:
		r.add(CheckSchemaVersion, StatusWarn, fmt.Sprintf("schema %s not created yet: Tandem creates it (version %d) when reporting replication starts", db.schema, SchemaVersion), start)
	case v < SchemaVersion:
		r.add(CheckSchemaVersion, StatusWarn, fmt.Sprintf("schema %s at version %d: Tandem migrates it to %d when reporting replication starts", db.schema, v, SchemaVersion), start)
	case v > SchemaVersion:
		r.add(CheckSchemaVersion, StatusFail, db.tooNew(v, SchemaVersion).Error(), start)
	default:
		current = true
		r.add(CheckSchemaVersion, StatusOK, fmt.Sprintf("schema %s at version %d, as this build expects", db.schema, v), start)
	}

	// Privileges Tandem needs.
	start = time.Now()
	if st, detail, err := db.checkPrivileges(ctx, conn, v > 0); err != nil {
		r.add(CheckPrivileges, StatusFail, db.opError("checking privileges", err).Error(), start)
	} else {
		r.add(CheckPrivileges, st, detail, start)
	}

	// Delivery position of this cluster (read only: no registration).
	start = time.Now()
	if !current {
		r.Checks = append(r.Checks, CheckResult{Name: CheckDelivery, Status: StatusSkip, Detail: "schema not current"})
		return
	}
	var (
		idx     int64
		seq     int32
		events  int64
		updated time.Time
	)
	err = conn.QueryRow(ctx, db.sqlFor(`SELECT d.raft_index, d.seq, d.events, d.updated_at
  FROM {{schema}}.delivery d JOIN {{schema}}.clusters c USING (cluster_id) WHERE c.name = $1`), db.opts.cluster).
		Scan(&idx, &seq, &events, &updated)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		r.add(CheckDelivery, StatusOK, fmt.Sprintf("cluster %q has not delivered yet", db.opts.cluster), start)
	case err != nil:
		r.add(CheckDelivery, StatusFail, db.opError("reading the delivery position", err).Error(), start)
	default:
		r.add(CheckDelivery, StatusOK, fmt.Sprintf("cluster %q delivered up to %d.%d (%d events), last at %s",
			db.opts.cluster, idx, seq, events, updated.UTC().Format(time.RFC3339)), start)
	}
}

// checkPrivileges tells whether the user may create the schema (absent) or
// write Tandem's tables (present).
func (db *DB) checkPrivileges(ctx context.Context, conn *pgx.Conn, exists bool) (Status, string, error) {
	if !exists {
		var schemaExists, canCreateDB, canCreateSchema bool
		err := conn.QueryRow(ctx, `SELECT
	EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1),
	has_database_privilege(current_database(), 'CREATE'),
	coalesce((SELECT has_schema_privilege(oid, 'CREATE') FROM pg_catalog.pg_namespace WHERE nspname = $1), false)`,
			db.schema).Scan(&schemaExists, &canCreateDB, &canCreateSchema)
		if err != nil {
			return "", "", err
		}
		if (schemaExists && canCreateSchema) || (!schemaExists && canCreateDB) {
			return StatusOK, fmt.Sprintf("user %q may create Tandem's tables in schema %s", db.cfg.User, db.schema), nil
		}
		return StatusFail, fmt.Sprintf("user %q may not create schema %s or its tables: GRANT CREATE ON DATABASE %s TO %s (or create the schema owned by it)",
			db.cfg.User, db.schema, pgx.Identifier{db.cfg.Database}.Sanitize(), pgx.Identifier{db.cfg.User}.Sanitize()), nil
	}
	var missing []string
	rows, err := conn.Query(ctx, `SELECT c.relname,
	has_table_privilege(c.oid, 'SELECT'), has_table_privilege(c.oid, 'INSERT'), has_table_privilege(c.oid, 'UPDATE')
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relkind = 'r'`, db.schema)
	if err != nil {
		return "", "", err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name     string
			sel, ins bool
			upd      bool
		)
		if err := rows.Scan(&name, &sel, &ins, &upd); err != nil {
			return "", "", err
		}
		need := map[string]bool{"SELECT": sel, "INSERT": ins}
		if name == "delivery" || name == "clusters" {
			need["UPDATE"] = upd
		}
		for _, p := range []string{"SELECT", "INSERT", "UPDATE"} {
			if ok, asked := need[p]; asked && !ok {
				missing = append(missing, p+" on "+name)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return "", "", err
	}
	if len(missing) > 0 {
		return StatusFail, fmt.Sprintf("user %q lacks %s", db.cfg.User, strings.Join(missing, ", ")), nil
	}
	return StatusOK, fmt.Sprintf("user %q may read and write Tandem's tables in schema %s", db.cfg.User, db.schema), nil
}

func dialProblem(err error) string {
	var ne net.Error
	switch {
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "no answer (timeout)"
	case strings.Contains(err.Error(), "no such file"):
		return "no such socket"
	}
	return innermost(err)
}
