package reporting

import (
	"fmt"
	"strings"
)

// adminSchemaSQL is migration 3: the administration data reports need to
// name what the event tables refer to by ID. One row per (cluster, ID),
// replaced as a whole by each administration-data sync (DB.SyncAdmin);
// synced_at is when a sync last wrote the row. No secret has a column:
// password hashes and phone secrets never reach the reporting database.
const adminSchemaSQL = `
CREATE TABLE {{schema}}.agents (
	cluster_id      integer NOT NULL REFERENCES {{schema}}.clusters,
	agent_id        text NOT NULL,
	name            text,
	user_id         text,
	extension       text,
	queues          jsonb NOT NULL DEFAULT '[]',
	skills          jsonb NOT NULL DEFAULT '{}',
	wrap_up_seconds integer,
	synced_at       timestamptz NOT NULL,
	PRIMARY KEY (cluster_id, agent_id)
);
COMMENT ON TABLE {{schema}}.agents IS 'agents of each cluster as its last administration-data sync sent them; queues: queue IDs, skills: skill → level';

CREATE TABLE {{schema}}.queues (
	cluster_id            integer NOT NULL REFERENCES {{schema}}.clusters,
	queue_id              text NOT NULL,
	name                  text,
	business_unit         text,
	strategy              text,
	service_level_seconds integer,
	skills                jsonb NOT NULL DEFAULT '{}',
	synced_at             timestamptz NOT NULL,
	PRIMARY KEY (cluster_id, queue_id)
);
COMMENT ON TABLE {{schema}}.queues IS 'queues of each cluster as its last administration-data sync sent them; skills: skill → minimum level';

CREATE TABLE {{schema}}.users (
	cluster_id          integer NOT NULL REFERENCES {{schema}}.clusters,
	user_id             text NOT NULL,
	name                text,
	first_name          text,
	last_name           text,
	company             text,
	extension           text,
	business_unit       text,
	call_category       text,
	forwarding_category text,
	synced_at           timestamptz NOT NULL,
	PRIMARY KEY (cluster_id, user_id)
);
COMMENT ON TABLE {{schema}}.users IS 'users of each cluster as its last administration-data sync sent them (never a password hash)';

CREATE TABLE {{schema}}.business_units (
	cluster_id       integer NOT NULL REFERENCES {{schema}}.clusters,
	business_unit_id text NOT NULL,
	name             text,
	synced_at        timestamptz NOT NULL,
	PRIMARY KEY (cluster_id, business_unit_id)
);
COMMENT ON TABLE {{schema}}.business_units IS 'business units of each cluster as its last administration-data sync sent them';

CREATE TABLE {{schema}}.admin_sync (
	cluster_id     integer PRIMARY KEY REFERENCES {{schema}}.clusters,
	raft_index     bigint NOT NULL DEFAULT 0,
	agents         integer NOT NULL DEFAULT 0,
	queues         integer NOT NULL DEFAULT 0,
	users          integer NOT NULL DEFAULT 0,
	business_units integer NOT NULL DEFAULT 0,
	synced_at      timestamptz
);
COMMENT ON TABLE {{schema}}.admin_sync IS 'last administration-data sync per cluster: the Raft index its data was read at and the rows it sent';
`

// adminTable is one administration table: its key column and the other
// columns a sync writes (besides cluster_id and synced_at). A row is sent
// as a JSON object whose keys are the column names.
type adminTable struct {
	Name string // table, also the admin_sync column counting its rows
	Key  string // the entity's ID column
	Noun string // singular, for messages
	Cols []adminCol
}

// adminCol is a column; Type is "text" (an empty string is stored as
// NULL), "integer" or "jsonb" (Empty is stored for a missing value).
type adminCol struct{ Name, Type, Empty string }

func colText(name string) adminCol        { return adminCol{Name: name, Type: "text"} }
func colInt(name string) adminCol         { return adminCol{Name: name, Type: "integer"} }
func colJSON(name, empty string) adminCol { return adminCol{Name: name, Type: "jsonb", Empty: empty} }

// adminTables, in the order a sync writes them and its summary lists them.
var adminTables = []*adminTable{
	{Name: "agents", Key: "agent_id", Noun: "agent", Cols: []adminCol{
		colText("name"), colText("user_id"), colText("extension"),
		colJSON("queues", "[]"), colJSON("skills", "{}"), colInt("wrap_up_seconds")}},
	{Name: "queues", Key: "queue_id", Noun: "queue", Cols: []adminCol{
		colText("name"), colText("business_unit"), colText("strategy"),
		colInt("service_level_seconds"), colJSON("skills", "{}")}},
	{Name: "users", Key: "user_id", Noun: "user", Cols: []adminCol{
		colText("name"), colText("first_name"), colText("last_name"), colText("company"),
		colText("extension"), colText("business_unit"), colText("call_category"), colText("forwarding_category")}},
	{Name: "business_units", Key: "business_unit_id", Noun: "business unit", Cols: []adminCol{
		colText("name")}},
}

// AdminTables lists the administration tables a sync fills.
func AdminTables() []string {
	out := make([]string, len(adminTables))
	for i, t := range adminTables {
		out[i] = t.Name
	}
	return out
}

// upsertSQL writes the rows of $2 (a JSON array of objects) for cluster
// $1 and counts them, and how many were new.
func (t *adminTable) upsertSQL() string {
	defs := []string{t.Key + " text"}
	cols := []string{"cluster_id", t.Key}
	vals := []string{"$1", "r." + t.Key}
	var sets []string
	for _, c := range t.Cols {
		defs = append(defs, c.Name+" "+c.Type)
		cols = append(cols, c.Name)
		switch c.Type {
		case "text":
			vals = append(vals, "nullif(r."+c.Name+", '')")
		case "jsonb":
			vals = append(vals, fmt.Sprintf("coalesce(r.%s, '%s')", c.Name, c.Empty))
		default:
			vals = append(vals, "r."+c.Name)
		}
		sets = append(sets, c.Name+" = EXCLUDED."+c.Name)
	}
	cols = append(cols, "synced_at")
	vals = append(vals, "now()")
	sets = append(sets, "synced_at = EXCLUDED.synced_at")
	return fmt.Sprintf(`WITH w AS (
INSERT INTO {{schema}}.%s (%s)
SELECT %s FROM jsonb_to_recordset($2::jsonb) AS r(%s)
ON CONFLICT (cluster_id, %s) DO UPDATE SET %s
RETURNING (xmax = 0) AS inserted)
SELECT count(*), count(*) FILTER (WHERE inserted) FROM w`,
		t.Name, strings.Join(cols, ", "), strings.Join(vals, ", "), strings.Join(defs, ", "),
		t.Key, strings.Join(sets, ", "))
}

// deleteSQL removes cluster $1's rows whose ID is not in $2 (text[]).
func (t *adminTable) deleteSQL() string {
	return fmt.Sprintf("DELETE FROM {{schema}}.%s WHERE cluster_id = $1 AND NOT (%s = ANY($2::text[]))", t.Name, t.Key)
}
