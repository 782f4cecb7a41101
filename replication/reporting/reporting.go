package reporting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Errors, for errors.Is. Every error this package returns names the
// database (user@host:port/dbname, never the password) and what to do.
var (
	// ErrBadDSN: the DSN does not parse.
	ErrBadDSN = errors.New("invalid reporting DSN")
	// ErrUnreachable: the server cannot be reached or is not accepting
	// connections now (name resolution, refused, timeout, shutting down,
	// connection lost). Transient: retry later.
	ErrUnreachable = errors.New("reporting database unreachable")
	// ErrCredentials: the server refused the user (password, pg_hba.conf)
	// or a privilege is missing.
	ErrCredentials = errors.New("reporting database refused the credentials")
	// ErrNoDatabase: the database named by the DSN does not exist.
	ErrNoDatabase = errors.New("reporting database does not exist")
	// ErrSchema: the reporting schema is not usable as it is.
	ErrSchema = errors.New("reporting schema not usable")
	// ErrSchemaTooNew: the schema was migrated by a newer Tandem.
	ErrSchemaTooNew = fmt.Errorf("%w: schema newer than this build", ErrSchema)
	// ErrSchemaOutdated: the schema needs Migrate first.
	ErrSchemaOutdated = fmt.Errorf("%w: schema not migrated", ErrSchema)
	// ErrBusy: another deliverer of the same cluster held its delivery
	// lock for longer than lock_timeout. Transient: retry later.
	ErrBusy = errors.New("reporting delivery lock busy")
	// ErrForeignHistory: the database holds different events at the same
	// positions for this cluster name (a re-created cluster, or two
	// clusters configured with one name).
	ErrForeignHistory = errors.New("reporting database holds another history for this cluster")
)

// DefaultSchema is the PostgreSQL schema Tandem's tables live in.
const DefaultSchema = "tandem"

// DefaultCluster names the delivering cluster when WithCluster is not used.
const DefaultCluster = "tandem"

// DefaultConnectTimeout bounds a connection attempt when the DSN sets no
// connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// Option configures Open and Check.
type Option func(*options)

type options struct {
	schema         string
	cluster        string
	connectTimeout time.Duration
	now            func() time.Time
}

func defaultOptions() options {
	return options{schema: DefaultSchema, cluster: DefaultCluster, now: time.Now}
}

// WithCluster names the cluster that delivers. A reporting database may
// serve several clusters; each must use its own stable name (for example
// the Raft cluster's ID), because rows are keyed by cluster and Raft
// position.
func WithCluster(name string) Option { return func(o *options) { o.cluster = name } }

// WithSchema puts Tandem's tables in another PostgreSQL schema.
func WithSchema(name string) Option { return func(o *options) { o.schema = name } }

// WithConnectTimeout bounds each connection attempt (default: the DSN's
// connect_timeout, else DefaultConnectTimeout).
func WithConnectTimeout(d time.Duration) Option { return func(o *options) { o.connectTimeout = d } }

// WithClock replaces the clock Check compares the server's with.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// DB is a connection to the reporting database for one cluster. Its
// methods are safe for concurrent use; they are serialised on one
// connection, which is re-established after it is lost.
type DB struct {
	cfg     *pgx.ConnConfig
	opts    options
	schema  string
	qschema string // quoted schema, for SQL
	target  string // user@host:port/dbname, for messages

	mu        sync.Mutex
	conn      *pgx.Conn
	ready     bool // schema current and cluster registered, checked on conn
	clusterID int32
	proj      *projector
	evBuf     copyBuf // the events rows of the batch being delivered

	// testHookBeforeCommit, when set, runs in Deliver's transaction just
	// before COMMIT.
	testHookBeforeCommit func(ctx context.Context)
	// testSkipTyped makes Deliver write events only (the benchmark uses it
	// to split the cost of the typed tables from the rest).
	testSkipTyped bool
}

// Open connects to the reporting database named by dsn (a PostgreSQL URL
// or key=value string, as pgx reads it) and checks that it can be used:
// the DSN parses, the server answers, the credentials are accepted, and
// the reporting schema is not newer than this build. It changes nothing in
// the database. A failure is one error naming the cause (ErrBadDSN,
// ErrUnreachable, ErrCredentials, ErrNoDatabase, ErrSchemaTooNew).
//
// An absent or older schema is not an error here: Migrate creates or
// upgrades it, and Deliver refuses to run before that (ErrSchemaOutdated).
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	db, err := newDB(dsn, o)
	if err != nil {
		return nil, err
	}
	conn, err := db.connect(ctx)
	if err != nil {
		return nil, err
	}
	v, err := schemaVersion(ctx, conn, db.schema)
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, db.opError("reading the schema version", err)
	}
	if v > SchemaVersion {
		conn.Close(context.WithoutCancel(ctx))
		return nil, db.tooNew(v, SchemaVersion)
	}
	db.conn = conn
	return db, nil
}

func newDB(dsn string, o options) (*DB, error) {
	if o.schema == "" || o.cluster == "" {
		return nil, fmt.Errorf("%w: schema and cluster names must not be empty", ErrBadDSN)
	}
	cfg, err := parseDSN(dsn, o)
	if err != nil {
		return nil, err
	}
	return &DB{
		cfg:     cfg,
		opts:    o,
		schema:  o.schema,
		qschema: pgx.Identifier{o.schema}.Sanitize(),
		target:  describe(cfg),
		proj:    newProjector(),
	}, nil
}

// sessionDefaults are the session settings Tandem uses unless the DSN sets
// them. A deliverer that stalls inside its transaction (a paused old
// leader) is ended by the server after a minute, releasing the cluster's
// delivery lock; a deliverer waiting for that lock gives up after two.
var sessionDefaults = map[string]string{
	"application_name":                    "tandem-reporting",
	"idle_in_transaction_session_timeout": "60000",
	"lock_timeout":                        "120000",
}

// parseDSN parses dsn without ever echoing its password.
func parseDSN(dsn string, o options) (*pgx.ConnConfig, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, fmt.Errorf("%w: empty (set --reporting-dsn, e.g. postgres://user:password@host:5432/reporting)", ErrBadDSN)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadDSN, parseErrorMessage(err, dsn))
	}
	if o.connectTimeout > 0 {
		cfg.ConnectTimeout = o.connectTimeout
	} else if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	for k, v := range sessionDefaults {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			cfg.RuntimeParams[k] = v
		}
	}
	return cfg, nil
}

// parseErrorMessage says why dsn does not parse without quoting it (it
// may hold a password).
func parseErrorMessage(err error, dsn string) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "cannot parse `") {
		if i := strings.Index(msg, "`: "); i > 0 {
			msg = msg[i+3:]
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = "not a valid URL: " + ue.Err.Error()
	}
	return strings.ReplaceAll(msg, dsn, "<dsn>")
}

// describe names the database for messages: user@host:port/dbname.
func describe(cfg *pgx.ConnConfig) string {
	host := cfg.Host
	if !strings.HasPrefix(host, "/") {
		host = net.JoinHostPort(host, strconv.Itoa(int(cfg.Port)))
	} else {
		host = fmt.Sprintf("%s/.s.PGSQL.%d", host, cfg.Port)
	}
	return fmt.Sprintf("%s@%s/%s", cfg.User, host, cfg.Database)
}

// Target names the database as user@host:port/dbname (no password).
func (db *DB) Target() string { return db.target }

// Cluster is the cluster name this DB delivers for.
func (db *DB) Cluster() string { return db.opts.cluster }

// Schema is the PostgreSQL schema holding Tandem's tables.
func (db *DB) Schema() string { return db.schema }

// Close closes the connection.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := db.conn.Close(ctx)
		db.conn = nil
		db.ready = false
		return err
	}
	return nil
}

// connect opens a new connection, translating failures into one clear
// error.
func (db *DB) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		return nil, db.connectError(err)
	}
	return conn, nil
}

// connLocked returns the live connection, reconnecting if it was lost.
func (db *DB) connLocked(ctx context.Context) (*pgx.Conn, error) {
	if db.conn != nil && !db.conn.IsClosed() {
		return db.conn, nil
	}
	if db.conn != nil {
		db.conn.Close(context.WithoutCancel(ctx))
		db.conn = nil
	}
	db.ready = false
	conn, err := db.connect(ctx)
	if err != nil {
		return nil, err
	}
	db.conn = conn
	return conn, nil
}

// dropIfBroken forgets conn when it can no longer be used.
func (db *DB) dropIfBroken(conn *pgx.Conn) {
	if conn.IsClosed() && db.conn == conn {
		db.conn = nil
		db.ready = false
	}
}

// readyLocked checks, once per connection, that the schema is exactly the
// version this build writes, and registers the cluster.
func (db *DB) readyLocked(ctx context.Context, conn *pgx.Conn) error {
	if db.ready {
		return nil
	}
	v, err := schemaVersion(ctx, conn, db.schema)
	if err != nil {
		return db.opError("reading the schema version", err)
	}
	switch {
	case v > SchemaVersion:
		return db.tooNew(v, SchemaVersion)
	case v < SchemaVersion:
		return fmt.Errorf("%w: reporting schema %s of %s is at version %d, this build needs %d: run the migrations (Migrate)",
			ErrSchemaOutdated, db.schema, db.target, v, SchemaVersion)
	}
	if err := db.checkColumns(ctx, conn); err != nil {
		return err
	}
	var id int32
	// DO UPDATE (not DO NOTHING + SELECT): when another node inserts the
	// same name concurrently, this statement waits for it and still
	// returns the row; a SELECT in the same statement would not see it.
	err = conn.QueryRow(ctx, db.sqlFor(`
INSERT INTO {{schema}}.clusters (name) VALUES ($1)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING cluster_id`), db.opts.cluster).Scan(&id)
	if err != nil {
		return db.privilegeError("registering the cluster", err)
	}
	if _, err := conn.Exec(ctx, db.sqlFor(
		"INSERT INTO {{schema}}.delivery (cluster_id) VALUES ($1) ON CONFLICT (cluster_id) DO NOTHING"), id); err != nil {
		return db.privilegeError("registering the cluster", err)
	}
	db.clusterID = id
	db.ready = true
	return nil
}

// connectError turns a failed connection attempt into one clear error.
func (db *DB) connectError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "28P01":
			return fmt.Errorf("%w: %s: password authentication failed for user %q: check the user and password in the DSN",
				ErrCredentials, db.target, db.cfg.User)
		case pgErr.Code == "28000":
			return fmt.Errorf("%w: %s: %s: check pg_hba.conf and the role's LOGIN attribute",
				ErrCredentials, db.target, pgErr.Message)
		case pgErr.Code == "3D000":
			return fmt.Errorf("%w: %s: database %q does not exist: create it (CREATE DATABASE) or fix the DSN",
				ErrNoDatabase, db.target, db.cfg.Database)
		case pgErr.Code == "42501":
			return fmt.Errorf("%w: %s: %s", ErrCredentials, db.target, pgErr.Message)
		case pgErr.Code == "42704" || pgErr.Code == "22023" || pgErr.Code == "55P02":
			return fmt.Errorf("%w: %s refused a setting of the DSN: %s", ErrBadDSN, db.target, pgErr.Message)
		case strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "53"):
			return fmt.Errorf("%w: %s is not accepting connections: %s", ErrUnreachable, db.target, pgErr.Message)
		}
		return fmt.Errorf("%w: %s: %s (SQLSTATE %s)", ErrUnreachable, db.target, pgErr.Message, pgErr.Code)
	}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%w: cannot resolve host %q of %s: %s", ErrUnreachable, dnsErr.Name, db.target, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: %s: connection refused: is PostgreSQL running and listening there?", ErrUnreachable, db.target)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w: %s: no such socket: is PostgreSQL running?", ErrUnreachable, db.target)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("connecting to the reporting database %s: %w", db.target, err)
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || isTimeout(err):
		return fmt.Errorf("%w: %s: no answer within %s", ErrUnreachable, db.target, db.cfg.ConnectTimeout)
	}
	return fmt.Errorf("%w: %s: %s", ErrUnreachable, db.target, innermost(err))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// innermost returns the message of the deepest wrapped error, which for
// pgx connect errors is the one that says what happened.
func innermost(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// opError classifies an error of an operation on an open connection.
func (db *DB) opError(doing string, err error) error {
	if errors.Is(err, ErrSchema) || errors.Is(err, ErrCredentials) || errors.Is(err, ErrUnreachable) ||
		errors.Is(err, ErrForeignHistory) || errors.Is(err, ErrBusy) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("reporting database %s: %s: %w", db.target, doing, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "57P"), strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "53"):
			return fmt.Errorf("%w: %s: %s: %s", ErrUnreachable, db.target, doing, pgErr.Message)
		case pgErr.Code == "42501":
			return fmt.Errorf("%w: %s: %s: %s", ErrCredentials, db.target, doing, pgErr.Message)
		case pgErr.Code == "55P03":
			return fmt.Errorf("%w: %s: %s: another node is delivering for cluster %q (%s)",
				ErrBusy, db.target, doing, db.opts.cluster, pgErr.Message)
		}
		return fmt.Errorf("reporting database %s: %s: %w", db.target, doing, err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") {
		return fmt.Errorf("%w: %s: connection lost while %s: %s", ErrUnreachable, db.target, doing, innermost(err))
	}
	return fmt.Errorf("reporting database %s: %s: %w", db.target, doing, err)
}

// sqlTypes are the column types (as format_type names them) that the
// binary COPY streams encode.
var sqlTypes = map[Kind]string{
	Text: "text", Int: "bigint", Float: "double precision", Bool: "boolean",
	Millis: "bigint", Timestamp: "timestamp with time zone",
}

// expectedColumns lists, per table Tandem copies into, each column's type.
func expectedColumns() map[string]map[string]string {
	common := map[string]string{
		"cluster_id": "integer", "raft_index": "bigint", "seq": "integer",
		"time": "timestamp with time zone",
	}
	out := map[string]map[string]string{
		"events": {"cluster_id": "integer", "raft_index": "bigint", "seq": "integer", "type": "text",
			"time": "timestamp with time zone", "command_id": "text", "data": "jsonb"},
	}
	for _, t := range typedTables {
		cols := map[string]string{"event": "text"}
		for k, v := range common {
			cols[k] = v
		}
		for _, c := range t.Columns {
			cols[c.Name] = sqlTypes[c.Kind]
		}
		out[t.Name] = cols
	}
	return out
}

// checkColumns verifies that every column Tandem writes exists with the
// type its binary encoding needs (someone may have altered the schema by
// hand); extra columns are allowed.
func (db *DB) checkColumns(ctx context.Context, conn *pgx.Conn) error {
	want := expectedColumns()
	tables := make([]string, 0, len(want))
	for t := range want {
		tables = append(tables, t)
	}
	rows, err := conn.Query(ctx, `SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relname = ANY($2) AND a.attnum > 0 AND NOT a.attisdropped`, db.schema, tables)
	if err != nil {
		return db.opError("checking the schema's columns", err)
	}
	got := map[string]map[string]string{}
	for rows.Next() {
		var t, col, typ string
		if err := rows.Scan(&t, &col, &typ); err != nil {
			rows.Close()
			return db.opError("checking the schema's columns", err)
		}
		if got[t] == nil {
			got[t] = map[string]string{}
		}
		got[t][col] = typ
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return db.opError("checking the schema's columns", err)
	}
	var problems []string
	for _, t := range tables {
		for col, typ := range want[t] {
			switch have, ok := got[t][col]; {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s.%s is missing", t, col))
			case have != typ:
				problems = append(problems, fmt.Sprintf("%s.%s is %s, Tandem writes %s", t, col, have, typ))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%w: reporting schema %s of %s was altered: %s",
			ErrSchema, db.schema, db.target, strings.Join(problems, "; "))
	}
	return nil
}
