package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/console"
)

// Issue 11, point 1b: the administration data reports need (agents,
// queues, users, business units) goes to the reporting database on its
// own, under the cluster's name, never with a secret.

const adminSyncDoc = `
business_units:
  - {id: north, name: North Region}
  - {id: south, name: South Region}
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "3001"
    phones: [{id: sec, position: 0, order: 1, secure: true, published: true}]
users:
  - {id: ann, name: Ann Archer, extension: "2001", business_unit: north, password_hash: "%s"}
  - {id: ben, name: Ben Baker, extension: "2002", business_unit: south}
  - {id: bob, name: Bob Brown, extension: "3001", business_unit: south}
queues:
  - {id: sales, name: Sales, business_unit: north, strategy: longest-idle}
  - {id: support, name: %s, business_unit: south, strategy: round-robin}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
  - {id: a2, name: Ben at Support, user: ben, extension: "2002", queues: [support]}
%s`

// adminNames reads cluster's rows of an administration table: ID → name.
func (db *replDB) adminNames(table, key, cluster string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db.readDSN)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT x.%s, coalesce(x.name, '')
  FROM tandem.%s x JOIN tandem.clusters c USING (cluster_id) WHERE c.name = $1`, key, table), cluster)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return nil, err
		}
		out[id] = name
	}
	rows.Close()
	return out, rows.Err()
}

// adminTablesEqual compares every administration table of cluster with
// want (table → ID → name).
func (db *replDB) adminTablesEqual(cluster string, want map[string]map[string]string) (bool, string) {
	keys := map[string]string{"agents": "agent_id", "queues": "queue_id", "users": "user_id", "business_units": "business_unit_id"}
	for table, w := range want {
		got, err := db.adminNames(table, keys[table], cluster)
		if err != nil {
			return false, err.Error()
		}
		if !reflect.DeepEqual(got, w) {
			return false, fmt.Sprintf("%s of %s: %v, want %v", table, cluster, got, w)
		}
	}
	return true, ""
}

func (db *replDB) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db.readDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// adminSyncState is the automatic administration-data sync in the node's
// replication status.
func (n *node) adminSyncState() (state, cluster, message string) {
	r := n.ctl("replication", "status", "-o", "json")
	var st struct {
		Targets map[string]struct {
			AdminSync *struct {
				State, Cluster, Message, Error string
			} `json:"admin_sync"`
		} `json:"targets"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.Targets["reporting"].AdminSync == nil {
		return "", "", r.stdout + r.stderr
	}
	a := st.Targets["reporting"].AdminSync
	return a.State, a.Cluster, a.Message + a.Error
}

// TestReplicationSyncReportingAdmin: a 3-node cluster delivering to
// PostgreSQL as "e2e-site", sharing the database with another site.
// `replication sync --target reporting --admin` (sent to a follower)
// writes the agents, queues, users and business units under the
// cluster's name, without the password hash the configuration holds; a
// full sync after a configuration change (an agent removed, a queue
// renamed) sends the administration data first and the tables follow; a
// resume and a failover each synchronise it again on their own; the other
// site's rows are never touched.
func TestReplicationSyncReportingAdmin(t *testing.T) {
	besideTheBurst(t)
	db := startReplDB(t, "e2e-site")
	opts := map[int][]nodeOpt{}
	for i := 0; i < 3; i++ {
		opts[i] = []nodeOpt{replReportingArgs(db)}
	}
	nodes := startCluster(t, "ad", 3, opts)
	leader := waitLeader(t, nodes, 3)
	fol := followers(nodes, leader)

	// Reporting became active on the leader at start: its automatic sync
	// (of an empty configuration) created the schema's rows for the site.
	waitFor(t, waitCluster, "the activation's administration-data sync", func() (bool, string) {
		state, cluster, msg := leader.adminSyncState()
		return state == "done" && cluster == "e2e-site", state + " " + cluster + " " + msg
	})
	db.exec(t, `INSERT INTO tandem.clusters (name) VALUES ('other-site')`)
	db.exec(t, `INSERT INTO tandem.agents (cluster_id, agent_id, name, synced_at)
		SELECT cluster_id, 'a1', 'Agent of the other site', now() FROM tandem.clusters WHERE name = 'other-site'`)
	otherSite := map[string]map[string]string{"agents": {"a1": "Agent of the other site"}, "queues": {}, "users": {}, "business_units": {}}

	hash, err := console.HashPassword("ann-password")
	if err != nil {
		t.Fatal(err)
	}
	leader.apply(fmt.Sprintf(adminSyncDoc, hash, "Support", "  - {id: a3, name: Third Agent, queues: [sales, support]}\n")).ok(t)

	// --admin, through a follower (it reads the leader's state).
	r := fol[0].ctl("replication", "sync", "--target", "reporting", "--admin", "--poll", "100ms").ok(t)
	const first = "administration data of cluster e2e-site synchronised to reporting: 3 agents, 2 queues, 3 users, 2 business units"
	if !strings.Contains(r.stdout, "admin sync of reporting for cluster e2e-site started") || !strings.Contains(r.stdout, first) {
		t.Errorf("sync --admin output:\n%s", r.stdout)
	}
	want := map[string]map[string]string{
		"agents":         {"a1": "Ann Archer", "a2": "Ben at Support", "a3": "Third Agent"},
		"queues":         {"sales": "Sales", "support": "Support"},
		"users":          {"ann": "Ann Archer", "ben": "Ben Baker", "bob": "Bob Brown"},
		"business_units": {"north": "North Region", "south": "South Region"},
	}
	if ok, msg := db.adminTablesEqual("e2e-site", want); !ok {
		t.Fatal(msg)
	}
	var j struct{ Mode, State, Cluster, Message string }
	st := fol[0].ctl("replication", "sync", "--status", "--target", "reporting", "-o", "json").ok(t)
	if err := json.Unmarshal([]byte(st.stdout), &j); err != nil || j.Mode != "admin" || j.State != "done" || j.Cluster != "e2e-site" || j.Message != first {
		t.Errorf("sync --status: %+v (%v)", j, err)
	}
	dump, err := dumpReporting(db)
	if err != nil || !strings.Contains(dump, "Ben at Support") {
		t.Fatalf("reporting dump: %v", err)
	}
	for _, needle := range append(strings.Split(hash, "$")[2:], hash) {
		if strings.Contains(dump, needle) {
			t.Errorf("the reporting database holds the password hash (%q)", needle)
		}
	}

	// The configuration changes: a3 removed, support renamed. A full sync
	// sends the administration data first.
	leader.ctl("apply", "--prune", "-f", writeTemp(t, "config-*.yaml", fmt.Sprintf(adminSyncDoc, hash, "Customer Care", ""))).ok(t)
	r = leader.ctl("replication", "sync", "--target", "reporting", "--recent", "--poll", "100ms").ok(t)
	if !strings.Contains(r.stdout, "recent sync of reporting for cluster e2e-site done") ||
		!strings.Contains(r.stdout, "first administration data of cluster e2e-site synchronised to reporting: 2 agents, 2 queues, 3 users, 2 business units; removed 1 agent") {
		t.Errorf("sync --recent output:\n%s", r.stdout)
	}
	delete(want["agents"], "a3")
	want["queues"]["support"] = "Customer Care"
	if ok, msg := db.adminTablesEqual("e2e-site", want); !ok {
		t.Fatal(msg)
	}

	// A resume is an activation: the administration data follows a
	// change without any sync command.
	leader.ctl("replication", "suspend", "--target", "reporting").ok(t)
	leader.apply("agents:\n  - {id: a4, name: Fourth Agent, queues: [sales]}\n").ok(t)
	leader.ctl("replication", "resume", "--target", "reporting").ok(t)
	want["agents"]["a4"] = "Fourth Agent"
	waitFor(t, waitCluster, "the resume's administration-data sync", func() (bool, string) {
		return db.adminTablesEqual("e2e-site", want)
	})

	// So is a failover: the new leader synchronises it.
	leader.apply("agents:\n  - {id: a5, name: Fifth Agent, queues: [support]}\n").ok(t)
	leader.kill()
	newLeader := waitLeader(t, fol, 3)
	want["agents"]["a5"] = "Fifth Agent"
	waitFor(t, waitCluster, "the new leader's administration-data sync", func() (bool, string) {
		return db.adminTablesEqual("e2e-site", want)
	})
	if state, cluster, msg := newLeader.adminSyncState(); state != "done" || cluster != "e2e-site" || !strings.Contains(msg, "4 agents") {
		t.Errorf("new leader's automatic sync: %s %s %s", state, cluster, msg)
	}
	if ok, msg := db.adminTablesEqual("other-site", otherSite); !ok {
		t.Errorf("another site's rows changed: %s", msg)
	}
}
