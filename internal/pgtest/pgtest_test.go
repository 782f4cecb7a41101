package pgtest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func query(t *testing.T, dsn string) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM kept").Scan(&n)
	return n, err
}

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	const db = "outage"
	dsn := s.CreateDatabase(t, db)
	s.Exec(t, db, "CREATE TABLE kept (n int)")
	s.Exec(t, db, "INSERT INTO kept VALUES (1), (2)")
	if n, err := query(t, dsn); err != nil || n != 2 {
		t.Fatalf("count = %d, %v", n, err)
	}

	s.Stop(t)
	if s.Running() {
		t.Fatal("running after Stop")
	}
	if _, err := query(t, dsn); err == nil {
		t.Fatal("query succeeded while stopped")
	}
	s.Start(t)
	if n, err := query(t, dsn); err != nil || n != 2 {
		t.Fatalf("after restart: count = %d, %v", n, err)
	}

	// A committed row survives an immediate (crash) shutdown.
	s.Exec(t, db, "INSERT INTO kept VALUES (3)")
	s.Kill(t)
	s.Start(t)
	if n, err := query(t, dsn); err != nil || n != 3 {
		t.Fatalf("after kill: count = %d, %v", n, err)
	}
}

func TestPasswordRole(t *testing.T) {
	s := Start(t)
	s.NewRole(t, "reporter", "secret")
	ctx := context.Background()
	good := "postgres://reporter:secret@" + s.Addr() + "/postgres?sslmode=disable"
	conn, err := pgx.Connect(ctx, good)
	if err != nil {
		t.Fatalf("good password: %v", err)
	}
	conn.Close(ctx)
	_, err = pgx.Connect(ctx, "postgres://reporter:wrong@"+s.Addr()+"/postgres?sslmode=disable")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Fatalf("wrong password: got %v, want SQLSTATE 28P01", err)
	}
}

func TestCleanupRemovesDir(t *testing.T) {
	var dir string
	t.Run("inner", func(t *testing.T) {
		dir = Start(t).Dir()
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still exists after cleanup (%v)", dir, err)
	}
}

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestShared(t *testing.T) {
	a, b := Shared(t), Shared(t)
	if a != b || !a.Running() {
		t.Fatal("Shared did not return one running server")
	}
	if _, err := query(t, a.NewDatabase(t)); err == nil {
		t.Fatal("query of a missing table succeeded")
	}
}
