package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/internal/pgtest"
)

// siteAdmin is a small contact center's administration data.
func siteAdmin() AdminData {
	return AdminData{
		Index: 42,
		Agents: []AdminAgent{
			{ID: "a1", Name: "Ann Agent", User: "ann", Extension: "2001", Queues: []string{"sales", "support"},
				Skills: map[string]int{"english": 7}, WrapUpSeconds: 10},
			{ID: "a2", Name: "Ben Agent", User: "ben", Extension: "2002", Queues: []string{"support"}},
			{ID: "a3", Name: "Cat Agent"},
		},
		Queues: []AdminQueue{
			{ID: "sales", Name: "Sales", BusinessUnit: "north", Strategy: "longest-idle", ServiceLevelSeconds: 20},
			{ID: "support", Name: "Support", BusinessUnit: "south", Strategy: "skills", Skills: map[string]int{"english": 5}},
		},
		Users: []AdminUser{
			{ID: "ann", Name: "Ann", FirstName: "Ann", LastName: "Smith", Extension: "2001", BusinessUnit: "north", CallCategory: "national"},
			{ID: "ben", Name: "Ben", Extension: "2002", BusinessUnit: "south"},
		},
		BusinessUnits: []AdminBusinessUnit{{ID: "north", Name: "North"}, {ID: "south", Name: "South"}},
	}
}

// adminRows reads cluster's rows of table, keyed by the table's ID column,
// each as its JSON object (without cluster_id and synced_at).
func adminRows(t testing.TB, db *DB, table, cluster string) map[string]map[string]any {
	t.Helper()
	ctx := ctxT(t)
	conn, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, db.sqlFor(`SELECT row_to_json(x)::text FROM {{schema}}.`+table+
		` x JOIN {{schema}}.clusters c USING (cluster_id) WHERE c.name = $1`), cluster)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	key := ""
	for _, at := range adminTables {
		if at.Name == table {
			key = at.Key
		}
	}
	out := map[string]map[string]any{}
	for _, d := range docs {
		var m map[string]any
		if err := json.Unmarshal([]byte(d), &m); err != nil {
			t.Fatal(err)
		}
		if m["synced_at"] == nil {
			t.Errorf("%s row %s has no synced_at", table, d)
		}
		delete(m, "cluster_id")
		delete(m, "synced_at")
		out[m[key].(string)] = m
	}
	return out
}

// names maps each row's ID to its name column.
func names(rows map[string]map[string]any) map[string]any {
	out := map[string]any{}
	for id, r := range rows {
		out[id] = r["name"]
	}
	return out
}

func TestSyncAdmin(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t, WithCluster("site-a"))

	renamed := siteAdmin()
	renamed.Agents = renamed.Agents[:2]         // a3 removed
	renamed.Queues[1].Name = "Customer Support" // renamed
	renamed.Users = append(renamed.Users, AdminUser{ID: "cat", Name: "Cat"})

	tests := []struct {
		name    string
		data    AdminData
		summary string
		want    map[string]map[string]any // table → ID → name
		check   func(t *testing.T, res AdminResult)
	}{
		{"first sync writes every row", siteAdmin(),
			"3 agents, 2 queues, 2 users, 2 business units",
			map[string]map[string]any{
				"agents":         {"a1": "Ann Agent", "a2": "Ben Agent", "a3": "Cat Agent"},
				"queues":         {"sales": "Sales", "support": "Support"},
				"users":          {"ann": "Ann", "ben": "Ben"},
				"business_units": {"north": "North", "south": "South"},
			},
			func(t *testing.T, res AdminResult) {
				if c := res.Count("agents"); c.New != 3 || c.Removed != 0 {
					t.Errorf("agents: %+v, want 3 new", c)
				}
			}},
		{"the same data again changes nothing", siteAdmin(),
			"3 agents, 2 queues, 2 users, 2 business units", nil,
			func(t *testing.T, res AdminResult) {
				for _, c := range res.Tables {
					if c.New != 0 || c.Removed != 0 {
						t.Errorf("%s: %+v, want nothing new or removed", c.Table, c)
					}
				}
			}},
		{"a removed agent, a renamed queue, a new user", renamed,
			"2 agents, 2 queues, 3 users (1 new), 2 business units; removed 1 agent",
			map[string]map[string]any{
				"agents":         {"a1": "Ann Agent", "a2": "Ben Agent"},
				"queues":         {"sales": "Sales", "support": "Customer Support"},
				"users":          {"ann": "Ann", "ben": "Ben", "cat": "Cat"},
				"business_units": {"north": "North", "south": "South"},
			}, nil},
		{"nothing left", AdminData{},
			"0 agents, 0 queues, 0 users, 0 business units; removed 2 agents, 2 queues, 3 users, 2 business units",
			map[string]map[string]any{"agents": {}, "queues": {}, "users": {}, "business_units": {}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var steps [][2]int64
			res, err := db.SyncAdmin(ctx, tc.data, func(done, total int64) { steps = append(steps, [2]int64{done, total}) })
			if err != nil {
				t.Fatal(err)
			}
			if got := res.String(); got != tc.summary {
				t.Errorf("summary %q, want %q", got, tc.summary)
			}
			if res.Cluster != "site-a" || res.Index != tc.data.Index {
				t.Errorf("result names cluster %q index %d", res.Cluster, res.Index)
			}
			total := int64(len(tc.data.Agents) + len(tc.data.Queues) + len(tc.data.Users) + len(tc.data.BusinessUnits))
			if len(steps) < 2 || steps[0] != [2]int64{0, total} || steps[len(steps)-1] != [2]int64{total, total} {
				t.Errorf("progress %v, want from 0 to %d of %d", steps, total, total)
			}
			for table, want := range tc.want {
				if got := names(adminRows(t, db, table, "site-a")); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: %v, want %v", table, got, want)
				}
			}
			if tc.check != nil {
				tc.check(t, res)
			}
			if n := queryInt(t, db, "SELECT agents FROM {{schema}}.admin_sync WHERE cluster_id = $1", db.clusterID); n != int64(len(tc.data.Agents)) {
				t.Errorf("admin_sync counts %d agents, want %d", n, len(tc.data.Agents))
			}
		})
	}
}

// Every column of a row holds what the data said; empty strings are NULL.
func TestSyncAdminColumns(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	if _, err := db.SyncAdmin(ctx, siteAdmin(), nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]map[string]any{
		"agents": {
			"a1": {"agent_id": "a1", "name": "Ann Agent", "user_id": "ann", "extension": "2001",
				"queues": []any{"sales", "support"}, "skills": map[string]any{"english": float64(7)}, "wrap_up_seconds": float64(10)},
			"a3": {"agent_id": "a3", "name": "Cat Agent", "user_id": nil, "extension": nil,
				"queues": []any{}, "skills": map[string]any{}, "wrap_up_seconds": float64(0)},
		},
		"queues": {
			"support": {"queue_id": "support", "name": "Support", "business_unit": "south", "strategy": "skills",
				"service_level_seconds": float64(0), "skills": map[string]any{"english": float64(5)}},
		},
		"users": {
			"ann": {"user_id": "ann", "name": "Ann", "first_name": "Ann", "last_name": "Smith", "company": nil,
				"extension": "2001", "business_unit": "north", "call_category": "national", "forwarding_category": nil},
		},
		"business_units": {"north": {"business_unit_id": "north", "name": "North"}},
	}
	for table, rows := range want {
		got := adminRows(t, db, table, DefaultCluster)
		for id, w := range rows {
			if !reflect.DeepEqual(got[id], w) {
				t.Errorf("%s %s:\n got %v\nwant %v", table, id, got[id], w)
			}
		}
	}
	if n := queryInt(t, db, "SELECT raft_index FROM {{schema}}.admin_sync WHERE cluster_id = $1", db.clusterID); n != 42 {
		t.Errorf("admin_sync.raft_index %d, want 42", n)
	}
}

// Two clusters share one database: each sync touches its own rows only,
// even where the IDs are the same.
func TestSyncAdminTwoClusters(t *testing.T) {
	ctx := ctxT(t)
	a, dsn := openMigrated(t, WithCluster("site-a"))
	b := openDSN(t, dsn, false, WithCluster("site-b"))
	other := AdminData{
		Agents: []AdminAgent{{ID: "a1", Name: "Anders at B"}, {ID: "b9", Name: "Bea"}},
		Queues: []AdminQueue{{ID: "sales", Name: "Försäljning"}},
	}
	steps := []struct {
		name  string
		db    *DB
		data  AdminData
		wantA map[string]any // agents of site-a → name
		wantB map[string]any
	}{
		{"a syncs", a, siteAdmin(), map[string]any{"a1": "Ann Agent", "a2": "Ben Agent", "a3": "Cat Agent"}, map[string]any{}},
		{"b syncs the same IDs", b, other, map[string]any{"a1": "Ann Agent", "a2": "Ben Agent", "a3": "Cat Agent"}, map[string]any{"a1": "Anders at B", "b9": "Bea"}},
		{"a empties itself", a, AdminData{}, map[string]any{}, map[string]any{"a1": "Anders at B", "b9": "Bea"}},
		{"a again", a, siteAdmin(), map[string]any{"a1": "Ann Agent", "a2": "Ben Agent", "a3": "Cat Agent"}, map[string]any{"a1": "Anders at B", "b9": "Bea"}},
	}
	for _, s := range steps {
		if _, err := s.db.SyncAdmin(ctx, s.data, nil); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := names(adminRows(t, a, "agents", "site-a")); !reflect.DeepEqual(got, s.wantA) {
			t.Errorf("%s: site-a agents %v, want %v", s.name, got, s.wantA)
		}
		if got := names(adminRows(t, a, "agents", "site-b")); !reflect.DeepEqual(got, s.wantB) {
			t.Errorf("%s: site-b agents %v, want %v", s.name, got, s.wantB)
		}
	}
	if got := names(adminRows(t, a, "queues", "site-b")); !reflect.DeepEqual(got, map[string]any{"sales": "Försäljning"}) {
		t.Errorf("site-b queues %v", got)
	}
	if n := queryInt(t, a, "SELECT count(*) FROM {{schema}}.admin_sync"); n != 2 {
		t.Errorf("admin_sync has %d rows, want one per cluster", n)
	}
}

// Refused data writes nothing.
func TestSyncAdminRefusesBadData(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	if _, err := db.SyncAdmin(ctx, siteAdmin(), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data AdminData
		want string
	}{
		{"agent without ID", AdminData{Agents: []AdminAgent{{Name: "x"}}}, "agent without an ID"},
		{"queue twice", AdminData{Queues: []AdminQueue{{ID: "q"}, {ID: "q"}}}, `queue "q" given twice`},
		{"business unit without ID", AdminData{BusinessUnits: []AdminBusinessUnit{{ID: "\x00"}, {}}}, "business unit without an ID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := db.SyncAdmin(ctx, tc.data, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SyncAdmin = %v, want an error containing %q", err, tc.want)
			}
			if got := len(adminRows(t, db, "agents", DefaultCluster)); got != 3 {
				t.Fatalf("a refused sync changed the agents: %d rows", got)
			}
		})
	}
}

// Text the engine allows but PostgreSQL refuses (NUL, invalid UTF-8) is
// stored with a replacement character.
func TestSyncAdminCleansText(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	data := AdminData{Agents: []AdminAgent{{ID: "a\x001", Name: "Nul\x00Name \xff", Queues: []string{"q\x00"},
		Skills: map[string]int{"s\x00": 1}}}}
	if _, err := db.SyncAdmin(ctx, data, nil); err != nil {
		t.Fatal(err)
	}
	got := adminRows(t, db, "agents", DefaultCluster)["a\uFFFD1"]
	if got == nil || got["name"] != "Nul\uFFFDName \uFFFD" {
		t.Fatalf("stored %v", got)
	}
}

// Concurrent syncs of one cluster (two nodes) are serialised: the tables
// end as one of them left them, never a mix.
func TestSyncAdminConcurrent(t *testing.T) {
	ctx := ctxT(t)
	db, dsn := openMigrated(t)
	first := siteAdmin()
	second := AdminData{Agents: []AdminAgent{{ID: "z1", Name: "Zed"}, {ID: "z2", Name: "Zoe"}}}
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		for _, d := range []AdminData{first, second} {
			h := openDSN(t, dsn, false)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := h.SyncAdmin(ctx, d, nil); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got := names(adminRows(t, db, "agents", DefaultCluster))
		if !reflect.DeepEqual(got, map[string]any{"a1": "Ann Agent", "a2": "Ben Agent", "a3": "Cat Agent"}) &&
			!reflect.DeepEqual(got, map[string]any{"z1": "Zed", "z2": "Zoe"}) {
			t.Fatalf("round %d: agents %v are a mix of two syncs", round, got)
		}
	}
}

// The schema has no place for a secret, and a database migrated by the
// previous build gains the administration tables on its own.
func TestAdminSchema(t *testing.T) {
	ctx := ctxT(t)
	dsn := pgtest.Shared(t).NewDatabase(t)
	db := openDSN(t, dsn, false)
	// A database at version 2 with delivered events.
	db.mu.Lock()
	conn, err := db.connLocked(ctx)
	if err == nil {
		_, err = db.migrate(ctx, conn, migrations[:2])
	}
	db.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SyncAdmin(ctx, siteAdmin(), nil); !errors.Is(err, ErrSchemaOutdated) {
		t.Fatalf("SyncAdmin on a version 2 schema = %v, want ErrSchemaOutdated", err)
	}
	res, err := db.Migrate(ctx)
	if err != nil || res.From != 2 || !reflect.DeepEqual(res.Applied, []int{3}) {
		t.Fatalf("Migrate from 2 = %+v, %v; want migration 3 applied", res, err)
	}
	if _, err := db.SyncAdmin(ctx, siteAdmin(), nil); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, `SELECT table_name || '.' || column_name FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = ANY($2)`, db.schema, append(AdminTables(), "admin_sync"))
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) < 30 {
		t.Fatalf("administration tables have only %d columns: %v", len(cols), cols)
	}
	for _, col := range cols {
		for _, bad := range []string{"password", "hash", "secret", "token"} {
			if strings.Contains(col, bad) {
				t.Errorf("column %s looks like a place for a secret", col)
			}
		}
	}
}
