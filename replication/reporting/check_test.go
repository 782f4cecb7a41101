package reporting

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/internal/pgtest"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestOpenErrors(t *testing.T) {
	ctx := ctxT(t)
	s := pgtest.Shared(t)
	dsn := s.NewDatabase(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	s.NewRole(t, "reporter_"+db, "right-password")

	cases := []struct {
		name, dsn string
		want      error
		says      string
	}{
		{"empty", "", ErrBadDSN, "empty"},
		{"unparsable", "postgres://u:sup3rsecret@127.0.0.1:notaport/db", ErrBadDSN, "invalid"},
		{"unknown setting", "postgres://postgres:sup3rsecret@" + s.Addr() + "/" + db + "?sslmode=disable&bogus_setting=1", ErrBadDSN, "bogus_setting"},
		{"refused", fmt.Sprintf("postgres://u:sup3rsecret@127.0.0.1:%d/db?sslmode=disable", closedPort(t)), ErrUnreachable, "connection refused"},
		{"unresolvable", "postgres://u:sup3rsecret@no-such-host.invalid:5432/db?sslmode=disable&connect_timeout=5", ErrUnreachable, "cannot resolve"},
		{"wrong password", "postgres://reporter_" + db + ":sup3rsecret@" + s.Addr() + "/" + db + "?sslmode=disable", ErrCredentials, "password authentication failed"},
		{"unknown user", "postgres://nobody_here:sup3rsecret@" + s.Addr() + "/" + db + "?sslmode=disable", ErrCredentials, "password authentication failed"},
		{"no database", "postgres://postgres@" + s.Addr() + "/missing_db?sslmode=disable", ErrNoDatabase, "does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := Open(ctx, c.dsn)
			if err == nil {
				h.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("Open = %v\nwant %v saying %q", err, c.want, c.says)
			}
			if strings.Contains(err.Error(), "sup3rsecret") {
				t.Fatalf("error shows the password: %v", err)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Fatalf("error is not one line: %q", err)
			}
			t.Log(err)
		})
	}
	// Nothing was created by the failed attempts.
	h := openDSN(t, dsn, false)
	if n := queryInt(t, h, "SELECT count(*) FROM pg_namespace WHERE nspname = 'tandem'"); n != 0 {
		t.Fatal("a failed Open created the schema")
	}

	// The right password works (scram over TCP).
	good := "postgres://reporter_" + db + ":right-password@" + s.Addr() + "/" + db + "?sslmode=disable"
	h2, err := Open(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	h2.Close()
}

func TestCheckHealthy(t *testing.T) {
	ctx := ctxT(t)
	db, dsn := openMigrated(t, WithCluster("main-site"))
	if _, err := db.Deliver(ctx, genEvents(1, 10)); err != nil {
		t.Fatal(err)
	}
	r := Check(ctx, dsn, WithCluster("main-site"))
	if !r.OK() {
		t.Fatalf("report not OK:\n%s", r)
	}
	for _, c := range r.Checks {
		if c.Status != StatusOK {
			t.Errorf("%s: %s %s", c.Name, c.Status, c.Detail)
		}
	}
	text := r.String()
	for _, name := range []string{CheckDSN, CheckNameResolution, CheckConnectivity, CheckCredentials, CheckClockSkew, CheckSchemaVersion, CheckPrivileges, CheckDelivery} {
		if !strings.Contains(text, name) {
			t.Errorf("report lacks %q:\n%s", name, text)
		}
	}
	if c, _ := r.Get(CheckDelivery); !strings.Contains(c.Detail, "delivered up to 10.") {
		t.Errorf("delivery check: %s", c.Detail)
	}
	if strings.Contains(text, "password") {
		t.Errorf("report mentions a password:\n%s", text)
	}
	t.Logf("\n%s", text)

	// The same from the open handle.
	if r := db.Check(ctx); !r.OK() {
		t.Fatalf("db.Check:\n%s", r)
	}
}

func TestCheckProblems(t *testing.T) {
	ctx := ctxT(t)
	s := pgtest.Shared(t)
	fresh := s.NewDatabase(t)

	status := func(r Report, name string) Status {
		c, ok := r.Get(name)
		if !ok {
			t.Fatalf("report has no %s check:\n%s", name, r)
		}
		return c.Status
	}

	r := Check(ctx, "postgres://u:pw@no-such-host.invalid/db?connect_timeout=5")
	if status(r, CheckNameResolution) != StatusFail || status(r, CheckConnectivity) != StatusSkip || r.OK() {
		t.Fatalf("unresolvable host:\n%s", r)
	}
	if r.Err() == nil || !strings.Contains(r.Err().Error(), "no-such-host.invalid") {
		t.Fatalf("Err = %v", r.Err())
	}

	r = Check(ctx, fmt.Sprintf("postgres://u:pw@127.0.0.1:%d/db", closedPort(t)))
	if status(r, CheckNameResolution) != StatusOK || status(r, CheckConnectivity) != StatusFail || status(r, CheckCredentials) != StatusSkip {
		t.Fatalf("closed port:\n%s", r)
	}

	r = Check(ctx, "postgres://nobody:wrong@"+s.Addr()+"/postgres?sslmode=disable")
	if status(r, CheckConnectivity) != StatusOK || status(r, CheckCredentials) != StatusFail || status(r, CheckSchemaVersion) != StatusSkip {
		t.Fatalf("wrong credentials:\n%s", r)
	}

	r = Check(ctx, fresh)
	if !r.OK() || status(r, CheckSchemaVersion) != StatusWarn || status(r, CheckPrivileges) != StatusOK || status(r, CheckDelivery) != StatusSkip {
		t.Fatalf("database without schema:\n%s", r)
	}

	r = Check(ctx, "::bad")
	if status(r, CheckDSN) != StatusFail || r.OK() {
		t.Fatalf("bad DSN:\n%s", r)
	}

	// A server clock 5 s off (seen through an injected node clock).
	r = Check(ctx, fresh, WithClock(func() time.Time { return time.Now().Add(5 * time.Second) }))
	if c, _ := r.Get(CheckClockSkew); c.Status != StatusWarn || !strings.Contains(c.Detail, "behind") {
		t.Fatalf("clock skew: %+v", c)
	}
}

func TestRetention(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	if w, err := db.RetentionWarnings(ctx, 180*day); err != nil || len(w) != 0 {
		t.Fatalf("no retention set: %v, %v", w, err)
	}
	if err := db.SetRetention(ctx, "calls", 30*day); err != nil {
		t.Fatal(err)
	}
	if err := db.SetRetention(ctx, AllTables, 365*day); err != nil {
		t.Fatal(err)
	}
	if err := db.SetRetention(ctx, "nonsense", day); err == nil {
		t.Fatal("unknown table accepted")
	}
	r, err := db.Retention(ctx)
	if err != nil || r["calls"] != 30*day || r[AllTables] != 365*day {
		t.Fatalf("Retention = %v, %v", r, err)
	}
	w, err := db.RetentionWarnings(ctx, 180*day)
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "calls keeps 30 days, the cluster keeps 180 days") {
		t.Fatalf("warnings = %q, %v", w, err)
	}
	if err := db.SetRetention(ctx, AllTables, 90*day); err != nil {
		t.Fatal(err)
	}
	if w, _ := db.RetentionWarnings(ctx, 180*day); len(w) != len(RetainedTables()) {
		t.Fatalf("warnings = %q, want one per table", w)
	}
	if err := db.SetRetention(ctx, "calls", 0); err != nil {
		t.Fatal(err)
	}
	if w, _ := db.RetentionWarnings(ctx, 60*day); len(w) != 0 {
		t.Fatalf("warnings for a shorter cluster retention: %q", w)
	}
}
