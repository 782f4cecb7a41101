package reporting

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/internal/pgtest"
)

func TestMigrateFresh(t *testing.T) {
	ctx := ctxT(t)
	dsn := pgtest.Shared(t).NewDatabase(t)
	db := openDSN(t, dsn, false)
	res, err := db.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var all []int
	for _, m := range migrations {
		all = append(all, m.Version)
	}
	if res.From != 0 || res.To != SchemaVersion || !reflect.DeepEqual(res.Applied, all) {
		t.Fatalf("Migrate = %+v, want 0 → %d applying %v", res, SchemaVersion, all)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM {{schema}}.schema_migrations"); n != int64(len(migrations)) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(migrations))
	}

	// Every typed table of the registry exists with exactly its columns,
	// in order.
	conn, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, tb := range typedTables {
		rows, err := conn.Query(ctx, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, db.schema, tb.Name)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cols, tb.columnNames()) {
			t.Errorf("table %s: columns %v, registry %v", tb.Name, cols, tb.columnNames())
		}
	}
	for _, name := range []string{"events", "delivery", "clusters", "retention", "contacts"} {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", db.schema+"."+name).Scan(&ok); err != nil || !ok {
			t.Errorf("%s missing (%v)", name, err)
		}
	}
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	ctx := ctxT(t)
	db, dsn := openMigrated(t)
	res, err := db.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.From != SchemaVersion || res.To != SchemaVersion || len(res.Applied) != 0 {
		t.Fatalf("second Migrate = %+v, want a no-op at %d", res, SchemaVersion)
	}
	// Another handle (another node) migrating is a no-op too.
	res, err = openDSN(t, dsn, false).Migrate(ctx)
	if err != nil || len(res.Applied) != 0 {
		t.Fatalf("Migrate from a second handle = %+v, %v", res, err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM {{schema}}.schema_migrations"); n != int64(len(migrations)) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(migrations))
	}
}

func TestMigrateConcurrently(t *testing.T) {
	ctx := ctxT(t)
	dsn := pgtest.Shared(t).NewDatabase(t)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied []int
	)
	for i := 0; i < 4; i++ {
		db := openDSN(t, dsn, false)
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := db.Migrate(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			applied = append(applied, res.Applied...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(applied) != len(migrations) {
		t.Fatalf("migrations applied %v in all, want each of %d once", applied, len(migrations))
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := ctxT(t)
	db, dsn := openMigrated(t)
	if _, err := db.Deliver(ctx, genEvents(1, 5)); err != nil {
		t.Fatal(err)
	}
	// A newer Tandem migrated the database.
	conn, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, db.sqlFor("INSERT INTO {{schema}}.schema_migrations (version, name) VALUES (99, 'from the future')")); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	_, err = Open(ctx, dsn)
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("Open = %v, want ErrSchemaTooNew naming version 99", err)
	}
	if _, err := db.Migrate(ctx); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Migrate = %v, want ErrSchemaTooNew", err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM {{schema}}.schema_migrations"); n != int64(len(migrations))+1 {
		t.Fatalf("schema_migrations changed: %d rows", n)
	}
	// A handle whose connection was re-established re-checks too.
	db.mu.Lock()
	db.conn.Close(context.Background())
	db.mu.Unlock()
	if _, err := db.Deliver(ctx, genEvents(6, 5)); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Deliver after reconnect = %v, want ErrSchemaTooNew", err)
	}
	if c, _ := Check(ctx, dsn).Get(CheckSchemaVersion); c.Status != StatusFail {
		t.Fatalf("Check schema version = %+v, want FAIL", c)
	}
}

func TestDeliverBeforeMigrateRefused(t *testing.T) {
	ctx := ctxT(t)
	dsn := pgtest.Shared(t).NewDatabase(t)
	db := openDSN(t, dsn, false)
	_, err := db.Deliver(ctx, genEvents(1, 3))
	if !errors.Is(err, ErrSchemaOutdated) || !strings.Contains(err.Error(), "Migrate") {
		t.Fatalf("Deliver = %v, want ErrSchemaOutdated telling to migrate", err)
	}
	if _, err := db.LastDelivered(ctx); !errors.Is(err, ErrSchemaOutdated) {
		t.Fatalf("LastDelivered = %v, want ErrSchemaOutdated", err)
	}
}

func TestMigrateWithoutPrivilege(t *testing.T) {
	ctx := ctxT(t)
	s := pgtest.Shared(t)
	dsn := s.NewDatabase(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	s.NewRole(t, "weak_"+db, "pw")
	s.Exec(t, db, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
	weak := "postgres://weak_" + db + ":pw@" + s.Addr() + "/" + db + "?sslmode=disable"
	h, err := Open(ctx, weak)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_, err = h.Migrate(ctx)
	if !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), "privilege") {
		t.Fatalf("Migrate = %v, want ErrCredentials about a privilege", err)
	}
	if c, _ := Check(ctx, weak).Get(CheckPrivileges); c.Status != StatusFail || !strings.Contains(c.Detail, "GRANT CREATE") {
		t.Fatalf("Check privileges = %+v, want FAIL with GRANT advice", c)
	}
}

func TestAlteredSchemaRefused(t *testing.T) {
	ctx := ctxT(t)
	_, dsn := openMigrated(t)
	s := pgtest.Shared(t)
	name := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	s.Exec(t, name, "ALTER TABLE tandem.calls ALTER COLUMN line TYPE integer")
	s.Exec(t, name, "ALTER TABLE tandem.events ADD COLUMN extra text") // extra columns are fine
	h := openDSN(t, dsn, false)
	_, err := h.Deliver(ctx, genEvents(1, 3))
	if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "calls.line is integer, Tandem writes bigint") {
		t.Fatalf("Deliver = %v, want ErrSchema naming calls.line", err)
	}
}
