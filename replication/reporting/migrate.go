package reporting

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// migration is one step of the reporting schema. Its SQL runs in one
// transaction together with the row recording it in schema_migrations.
// "{{schema}}" stands for the quoted schema name. Migrations are never
// edited once released: a change is a new migration.
type migration struct {
	Version int
	Name    string
	SQL     string
}

// migrations, in order; SchemaVersion is the last one's Version.
var migrations = []migration{
	{1, "clusters, delivery positions and the raw event log", `
CREATE TABLE {{schema}}.clusters (
	cluster_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name       text NOT NULL UNIQUE,
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {{schema}}.clusters IS 'Tandem clusters delivering into this database';

CREATE TABLE {{schema}}.delivery (
	cluster_id integer PRIMARY KEY REFERENCES {{schema}}.clusters,
	raft_index bigint NOT NULL DEFAULT 0,
	seq        integer NOT NULL DEFAULT 0,
	events     bigint NOT NULL DEFAULT 0,
	batches    bigint NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {{schema}}.delivery IS 'last delivered event position (raft_index, seq) per cluster; 0 = nothing yet';

CREATE TABLE {{schema}}.events (
	cluster_id integer NOT NULL,
	raft_index bigint NOT NULL,
	seq        integer NOT NULL,
	type       text NOT NULL,
	time       timestamptz NOT NULL,
	command_id text NOT NULL,
	data       jsonb,
	PRIMARY KEY (cluster_id, raft_index, seq)
);
CREATE INDEX events_time ON {{schema}}.events USING brin (time);
COMMENT ON TABLE {{schema}}.events IS 'every committed engine event, whatever its type';

CREATE TABLE {{schema}}.retention (
	table_name text PRIMARY KEY,
	keep_days  integer NOT NULL CHECK (keep_days > 0),
	updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {{schema}}.retention IS 'days the database maintenance keeps rows of a table (''*'' = every table); no row = kept forever';
`},
	// Typed tables have no unique key on purpose: a typed row is written
	// only in the transaction that first inserts its event into events,
	// whose primary key makes it unique (and an index per table would cost
	// drain rate).
	{2, "typed reporting tables and the contacts view", `
CREATE TABLE {{schema}}.calls (
	cluster_id  integer NOT NULL,
	raft_index  bigint NOT NULL,
	seq         integer NOT NULL,
	time        timestamptz NOT NULL,
	event       text NOT NULL,
	call_id     text,
	queue_id    text,
	agent_id    text,
	extension   text,
	number      text,
	caller_name text,
	target      text,
	line        bigint,
	kind        text,
	reason      text,
	ended_by    text,
	place       text,
	moved_from  text,
	moved_to    text,
	priority    bigint,
	position    bigint,
	waiting     bigint,
	wait_ms     bigint,
	duration_ms bigint,
	note        text
);
CREATE TABLE {{schema}}.agent_state_changes (
	cluster_id integer NOT NULL,
	raft_index bigint NOT NULL,
	seq        integer NOT NULL,
	time       timestamptz NOT NULL,
	event      text NOT NULL,
	agent_id   text,
	from_state text,
	to_state   text,
	reason     text,
	automatic  boolean,
	logged_in  bigint,
	until      timestamptz
);
CREATE TABLE {{schema}}.queue_statistics (
	cluster_id            integer NOT NULL,
	raft_index            bigint NOT NULL,
	seq                   integer NOT NULL,
	time                  timestamptz NOT NULL,
	event                 text NOT NULL,
	queue_id              text,
	waiting               bigint,
	ringing               bigint,
	level                 bigint,
	longest_wait_ms       bigint,
	agents                bigint,
	connected             bigint,
	entered               bigint,
	answered              bigint,
	abandoned             bigint,
	answered_in_sl        bigint,
	no_answer             bigint,
	max_wait_ms           bigint,
	talk_ms               bigint,
	talked                bigint,
	service_level_pct     double precision,
	service_level_seconds bigint,
	expected_wait_ms      bigint
);
CREATE TABLE {{schema}}.callbacks (
	cluster_id    integer NOT NULL,
	raft_index    bigint NOT NULL,
	seq           integer NOT NULL,
	time          timestamptz NOT NULL,
	event         text NOT NULL,
	callback_id   text,
	queue_id      text,
	agent_id      text,
	call_id       text,
	customer_name text,
	phone         text,
	priority      bigint,
	state         text,
	code          bigint,
	reason        text,
	attempt       bigint
);
CREATE TABLE {{schema}}.chats (
	cluster_id    integer NOT NULL,
	raft_index    bigint NOT NULL,
	seq           integer NOT NULL,
	time          timestamptz NOT NULL,
	event         text NOT NULL,
	chat_id       text,
	queue_id      text,
	agent_id      text,
	business_unit text,
	customer_name text,
	language      text,
	priority      bigint,
	state         text,
	reason        text,
	messages      bigint
);
CREATE TABLE {{schema}}.emails (
	cluster_id    integer NOT NULL,
	raft_index    bigint NOT NULL,
	seq           integer NOT NULL,
	time          timestamptz NOT NULL,
	event         text NOT NULL,
	email_id      text,
	message_id    text,
	queue_id      text,
	agent_id      text,
	business_unit text,
	sender        text,
	recipient     text,
	subject       text,
	state         text,
	reason        text
);
CREATE TABLE {{schema}}.problem_reports (
	cluster_id  integer NOT NULL,
	raft_index  bigint NOT NULL,
	seq         integer NOT NULL,
	time        timestamptz NOT NULL,
	event       text NOT NULL,
	problem_id  text,
	agent_id    text,
	call_id     text,
	number      text,
	description text,
	reported_at timestamptz,
	reset       boolean
);
CREATE INDEX calls_time ON {{schema}}.calls USING brin (time);
CREATE INDEX agent_state_changes_time ON {{schema}}.agent_state_changes USING brin (time);
CREATE INDEX queue_statistics_time ON {{schema}}.queue_statistics USING brin (time);
CREATE INDEX callbacks_time ON {{schema}}.callbacks USING brin (time);
CREATE INDEX chats_time ON {{schema}}.chats USING brin (time);
CREATE INDEX emails_time ON {{schema}}.emails USING brin (time);
CREATE INDEX problem_reports_time ON {{schema}}.problem_reports USING brin (time);

CREATE VIEW {{schema}}.contacts AS
	SELECT cluster_id, raft_index, seq, time, event, 'voice'::text AS channel,
	       call_id AS contact_id, queue_id, agent_id, coalesce(caller_name, number) AS customer, reason
	  FROM {{schema}}.calls
	UNION ALL
	SELECT cluster_id, raft_index, seq, time, event, 'callback', callback_id, queue_id, agent_id,
	       coalesce(customer_name, phone), reason
	  FROM {{schema}}.callbacks
	UNION ALL
	SELECT cluster_id, raft_index, seq, time, event, 'chat', chat_id, queue_id, agent_id,
	       customer_name, reason
	  FROM {{schema}}.chats
	UNION ALL
	SELECT cluster_id, raft_index, seq, time, event, 'email', email_id, queue_id, agent_id,
	       sender, reason
	  FROM {{schema}}.emails;
COMMENT ON VIEW {{schema}}.contacts IS 'contact events of every channel (voice, callback, chat, e-mail)';
`},
	// Administration data (admin_schema.go): written by DB.SyncAdmin, not
	// from events.
	{3, "administration data: agents, queues, users, business units", adminSchemaSQL},
}

// SchemaVersion is the reporting schema version this build creates and
// understands.
var SchemaVersion = migrations[len(migrations)-1].Version

// migrationLockKey is the advisory lock that serialises migrations of one
// database (several nodes or clusters may migrate at once).
const migrationLockKey = 0x54616e64656d // "Tandem"

// sqlFor expands {{schema}} in a statement.
func (db *DB) sqlFor(s string) string { return strings.ReplaceAll(s, "{{schema}}", db.qschema) }

// MigrationResult tells what Migrate did.
type MigrationResult struct {
	From, To int   // schema version before and after
	Applied  []int // versions applied by this call, in order
}

// Migrate creates the reporting schema or brings it up to SchemaVersion,
// one migration per transaction, under an advisory lock so that concurrent
// callers apply each migration once. It refuses a database whose schema is
// newer than this build knows (ErrSchemaTooNew) and changes nothing then.
// Migrating an up-to-date schema is a no-op.
func (db *DB) Migrate(ctx context.Context) (MigrationResult, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	conn, err := db.connLocked(ctx)
	if err != nil {
		return MigrationResult{}, err
	}
	res, err := db.migrate(ctx, conn, migrations)
	if err != nil {
		db.dropIfBroken(conn)
		return res, err
	}
	db.ready = false // re-check version and cluster registration
	if err := db.readyLocked(ctx, conn); err != nil {
		return res, err
	}
	return res, nil
}

func (db *DB) migrate(ctx context.Context, conn *pgx.Conn, ms []migration) (MigrationResult, error) {
	var res MigrationResult
	from, err := schemaVersion(ctx, conn, db.schema)
	if err != nil {
		return res, db.opError("reading the schema version", err)
	}
	res.From, res.To = from, from
	known := ms[len(ms)-1].Version
	if from > known {
		return res, db.tooNew(from, known)
	}
	if from == known {
		return res, nil
	}
	for _, m := range ms {
		if m.Version <= res.To {
			continue
		}
		applied, v, err := db.applyMigration(ctx, conn, m, known)
		if err != nil {
			return res, err
		}
		if applied {
			res.Applied = append(res.Applied, m.Version)
		}
		res.To = max(v, res.To)
	}
	return res, nil
}

// applyMigration runs m in its own transaction unless another process
// applied it meanwhile. It returns the schema version after.
func (db *DB) applyMigration(ctx context.Context, conn *pgx.Conn, m migration, known int) (bool, int, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, 0, db.opError("starting a migration", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLockKey)); err != nil {
		return false, 0, db.opError("locking the schema for migration", err)
	}
	if _, err := tx.Exec(ctx, db.sqlFor(`
CREATE SCHEMA IF NOT EXISTS {{schema}};
CREATE TABLE IF NOT EXISTS {{schema}}.schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now(),
	applied_by text NOT NULL DEFAULT current_user
)`)); err != nil {
		return false, 0, db.privilegeError("creating the schema", err)
	}
	var cur int
	if err := tx.QueryRow(ctx, db.sqlFor("SELECT coalesce(max(version), 0) FROM {{schema}}.schema_migrations")).Scan(&cur); err != nil {
		return false, 0, db.opError("reading the schema version", err)
	}
	if cur > known {
		return false, cur, db.tooNew(cur, known)
	}
	if cur >= m.Version {
		return false, cur, tx.Commit(ctx)
	}
	if cur != m.Version-1 {
		return false, cur, fmt.Errorf("%w: reporting schema %s is at version %d, migration %d needs %d first",
			ErrSchema, db.schema, cur, m.Version, m.Version-1)
	}
	if _, err := tx.Exec(ctx, db.sqlFor(m.SQL)); err != nil {
		return false, cur, db.privilegeError(fmt.Sprintf("applying migration %d (%s)", m.Version, m.Name), err)
	}
	if _, err := tx.Exec(ctx, db.sqlFor("INSERT INTO {{schema}}.schema_migrations (version, name) VALUES ($1, $2)"), m.Version, m.Name); err != nil {
		return false, cur, db.opError("recording a migration", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, cur, db.opError(fmt.Sprintf("committing migration %d", m.Version), err)
	}
	return true, m.Version, nil
}

// schemaVersion reads the schema's version: 0 when it does not exist yet.
func schemaVersion(ctx context.Context, conn *pgx.Conn, schema string) (int, error) {
	var exists bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname = $1 AND c.relname = 'schema_migrations')`, schema).Scan(&exists)
	if err != nil || !exists {
		return 0, err
	}
	var v int
	err = conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+
		pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&v)
	return v, err
}

func (db *DB) tooNew(have, known int) error {
	return fmt.Errorf("%w: reporting schema %s of %s is at version %d, this build of Tandem knows up to %d: upgrade Tandem",
		ErrSchemaTooNew, db.schema, db.target, have, known)
}

// privilegeError explains a failed DDL statement, naming missing
// privileges when that is the cause.
func (db *DB) privilegeError(doing string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" {
		return fmt.Errorf("%w: %s in %s: user %s lacks the privilege (%s): grant it CREATE on the database or own schema %s",
			ErrCredentials, doing, db.target, db.cfg.User, pgErr.Message, db.schema)
	}
	return db.opError(doing, err)
}
