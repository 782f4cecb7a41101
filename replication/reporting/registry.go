package reporting

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemcc/tandem/command"
)

// Kind is the SQL type of a typed column and how its value is read from
// the event's JSON data.
type Kind int

const (
	// Text: a JSON string, or the JSON text of any other value.
	Text Kind = iota
	// Int: a JSON number (or a string holding one), as bigint/integer.
	Int
	// Float: a JSON number (or a string holding one), as double precision.
	Float
	// Bool: true/false (or the strings "true"/"false").
	Bool
	// Millis: a duration stored as bigint milliseconds. The JSON key's
	// suffix gives the unit of a number: _ms milliseconds, _s/_sec/_seconds
	// seconds, _ns or no suffix nanoseconds (how encoding/json writes a
	// time.Duration). A string value is parsed by time.ParseDuration.
	Millis
	// Timestamp: an RFC 3339 string, or a number of Unix nanoseconds.
	Timestamp
)

// Column is one typed column of a reporting table.
type Column struct {
	// Name is the SQL column name.
	Name string
	// Kind is its type.
	Kind Kind
	// Keys are the top-level JSON keys of the event data that may hold the
	// value, tried in order: the first present and not null wins. A column
	// whose keys are all absent is NULL.
	Keys []string
}

// Table is a typed reporting table. Every typed table starts with the
// columns cluster_id, raft_index, seq, time and event (the event type);
// Columns follow.
type Table struct {
	Name    string
	Columns []Column

	slots [][]int // per column, the keySlots index of each of its Keys
}

// commonColumns lead every typed table.
var commonColumns = []string{"cluster_id", "raft_index", "seq", "time", "event"}

// columnNames returns all of t's columns in table order.
func (t *Table) columnNames() []string {
	names := append([]string(nil), commonColumns...)
	for _, c := range t.Columns {
		names = append(names, c.Name)
	}
	return names
}

// The typed tables of the reporting schema. They are facts: one row per
// event, never updated, keyed like events. Their definitions must agree
// with the migrations (a test checks them against the migrated catalog).
// Keys follow the engine's event payloads (contactcenter/events.go) first,
// then common alternatives.
var (
	tableCalls = &Table{Name: "calls", Columns: []Column{
		{"call_id", Text, []string{"call", "call_id"}},
		{"queue_id", Text, []string{"queue", "queue_id"}},
		{"agent_id", Text, []string{"agent", "agent_id"}},
		{"extension", Text, []string{"extension"}},
		{"number", Text, []string{"number", "caller"}},
		{"caller_name", Text, []string{"name", "caller_name"}},
		{"target", Text, []string{"target", "with"}},
		{"line", Int, []string{"line"}},
		{"kind", Text, []string{"kind"}},
		{"reason", Text, []string{"reason"}},
		{"ended_by", Text, []string{"by"}},
		{"place", Text, []string{"place"}},
		{"moved_from", Text, []string{"from"}},
		{"moved_to", Text, []string{"to"}},
		{"priority", Int, []string{"priority"}},
		{"position", Int, []string{"position"}},
		{"waiting", Int, []string{"waiting"}},
		{"wait_ms", Millis, []string{"wait_ms", "wait_seconds"}},
		{"duration_ms", Millis, []string{"duration_ms", "duration_seconds"}},
		{"note", Text, []string{"note"}},
	}}
	tableAgentStates = &Table{Name: "agent_state_changes", Columns: []Column{
		{"agent_id", Text, []string{"agent", "agent_id"}},
		{"from_state", Text, []string{"previous", "from_state"}},
		{"to_state", Text, []string{"state", "to_state"}},
		{"reason", Text, []string{"reason"}},
		{"automatic", Bool, []string{"auto"}},
		{"logged_in", Int, []string{"logged_in"}},
		{"until", Timestamp, []string{"until"}},
	}}
	tableQueueStats = &Table{Name: "queue_statistics", Columns: []Column{
		{"queue_id", Text, []string{"queue", "queue_id"}},
		{"waiting", Int, []string{"waiting"}},
		{"ringing", Int, []string{"ringing"}},
		{"level", Int, []string{"level"}},
		{"longest_wait_ms", Millis, []string{"longest_wait_ms"}},
		{"agents", Int, []string{"agents"}},
		{"connected", Int, []string{"connected"}},
		{"entered", Int, []string{"entered"}},
		{"answered", Int, []string{"answered"}},
		{"abandoned", Int, []string{"abandoned"}},
		{"answered_in_sl", Int, []string{"answered_in_sl"}},
		{"no_answer", Int, []string{"no_answer"}},
		{"max_wait_ms", Millis, []string{"max_wait_ms"}},
		{"talk_ms", Millis, []string{"talk_ms"}},
		{"talked", Int, []string{"talked"}},
		{"service_level_pct", Float, []string{"service_level_pct"}},
		{"service_level_seconds", Int, []string{"service_level_seconds"}},
		{"expected_wait_ms", Millis, []string{"expected_wait_seconds", "expected_wait_ms"}},
	}}
	tableCallbacks = &Table{Name: "callbacks", Columns: []Column{
		{"callback_id", Text, []string{"callback", "callback_id", "id"}},
		{"queue_id", Text, []string{"queue", "queue_id"}},
		{"agent_id", Text, []string{"agent", "agent_id"}},
		{"call_id", Text, []string{"call", "call_id"}},
		{"customer_name", Text, []string{"customer_name", "name"}},
		{"phone", Text, []string{"phone", "number"}},
		{"priority", Int, []string{"priority"}},
		{"state", Text, []string{"state", "status"}},
		{"code", Int, []string{"code"}},
		{"reason", Text, []string{"reason"}},
		{"attempt", Int, []string{"attempt", "attempts"}},
	}}
	tableChats = &Table{Name: "chats", Columns: []Column{
		{"chat_id", Text, []string{"chat", "session", "session_id", "chat_id", "id"}},
		{"queue_id", Text, []string{"queue", "queue_id"}},
		// chat.requeued names no agent (the session waits) but the one
		// who left it: previous.
		{"agent_id", Text, []string{"agent", "agent_id", "previous"}},
		{"business_unit", Text, []string{"business_unit"}},
		{"customer_name", Text, []string{"customer_name", "name"}},
		{"language", Text, []string{"chat_language", "language"}},
		{"priority", Int, []string{"priority"}},
		{"state", Text, []string{"state", "status"}},
		{"reason", Text, []string{"reason"}},
		{"messages", Int, []string{"messages", "message_count"}},
	}}
	tableEmails = &Table{Name: "emails", Columns: []Column{
		{"email_id", Text, []string{"email", "contact", "email_id", "contact_id", "id"}},
		{"message_id", Text, []string{"message_id"}},
		{"queue_id", Text, []string{"queue", "queue_id"}},
		{"agent_id", Text, []string{"agent", "agent_id"}},
		{"business_unit", Text, []string{"business_unit"}},
		{"sender", Text, []string{"from", "sender"}},
		{"recipient", Text, []string{"to", "recipient", "alias"}},
		{"subject", Text, []string{"subject"}},
		{"state", Text, []string{"state", "status"}},
		{"reason", Text, []string{"reason"}},
	}}
	tableProblems = &Table{Name: "problem_reports", Columns: []Column{
		{"problem_id", Text, []string{"id"}},
		{"agent_id", Text, []string{"agent"}},
		{"call_id", Text, []string{"call"}},
		{"number", Text, []string{"number"}},
		{"description", Text, []string{"description"}},
		{"reported_at", Timestamp, []string{"at"}},
		{"reset", Bool, []string{"reset"}},
	}}
)

// typedTables lists every typed table, in migration order.
var typedTables = []*Table{tableCalls, tableAgentStates, tableQueueStats, tableCallbacks, tableChats, tableEmails, tableProblems}

// routes maps an event type, or a family written "family.*", to its typed
// tables. Exact types win over families; a type matching neither lands in
// events only (config.*, phone.*, user.*, cluster.*: administration, not
// history). Adding an event type of a known shape is one line here; a new
// table or column also needs a migration.
var routes = map[string][]*Table{
	"call.*":           {tableCalls},
	"agent.*":          {tableAgentStates},
	"queue.*":          {tableQueueStats},
	"callback.*":       {tableCallbacks},
	"chat.*":           {tableChats},
	"email.*":          {tableEmails},
	"mail.*":           {tableEmails},
	"problem.reported": {tableProblems},
}

// tablesFor returns the typed tables an event type is projected into.
func tablesFor(typ string) []*Table {
	if ts, ok := routes[typ]; ok {
		return ts
	}
	fam, _, ok := strings.Cut(typ, ".")
	if !ok {
		return nil
	}
	return routes[fam+".*"]
}

// keySlots numbers every JSON key some typed column reads; the tables'
// slots are filled from it.
var keySlots = func() map[string]int {
	m := map[string]int{}
	for _, t := range typedTables {
		t.slots = make([][]int, len(t.Columns))
		for i, c := range t.Columns {
			for _, k := range c.Keys {
				n, ok := m[k]
				if !ok {
					n = len(m)
					m[k] = n
				}
				t.slots[i] = append(t.slots[i], n)
			}
		}
	}
	return m
}()

// projector turns events into the binary COPY streams of the typed
// tables, reusing its buffers from batch to batch.
type projector struct {
	bufs map[*Table]*copyBuf
	vals [][]byte // per key slot, the raw JSON value in the current event
}

func newProjector() *projector {
	p := &projector{bufs: map[*Table]*copyBuf{}, vals: make([][]byte, len(keySlots))}
	for _, t := range typedTables {
		p.bufs[t] = &copyBuf{}
	}
	return p
}

func (p *projector) reset() {
	for _, b := range p.bufs {
		b.reset()
	}
}

// scan fills p.vals from an event's data.
func (p *projector) scan(data []byte) {
	clear(p.vals)
	eachField(data, func(key, val []byte) {
		if n, ok := keySlots[string(key)]; ok && p.vals[n] == nil {
			p.vals[n] = val
		}
	})
}

// add projects one event into the rows of its typed tables.
func (p *projector) add(clusterID int32, ev *command.Event) {
	ts := tablesFor(ev.Type)
	if len(ts) == 0 {
		return
	}
	p.scan(ev.Data)
	for _, t := range ts {
		b := p.bufs[t]
		b.startRow(len(commonColumns) + len(t.Columns))
		b.int4(clusterID)
		b.int8(int64(ev.Index))
		b.int4(int32(ev.Seq))
		b.timestamptz(ev.Time)
		b.text(ev.Type)
		for i := range t.Columns {
			b.cell(p.value(&t.Columns[i], t.slots[i]))
		}
	}
}

// cell is one typed value, ready to encode (no allocation on the common
// paths).
type cell struct {
	null bool
	kind Kind
	text []byte // Text
	i    int64  // Int, Millis
	f    float64
	b    bool
	t    int64 // Timestamp, Unix nanoseconds
}

// value converts the first present key of c; NULL when absent or not
// convertible. The raw event in events keeps the original either way.
func (p *projector) value(c *Column, slots []int) cell {
	for i, n := range slots {
		raw := p.vals[n]
		if raw == nil || isNull(raw) {
			continue
		}
		v := cell{kind: c.Kind}
		ok := false
		switch c.Kind {
		case Text:
			v.text, ok = textValue(raw), true
		case Int:
			v.i, ok = intValue(raw)
		case Float:
			v.f, ok = floatValue(raw)
		case Bool:
			v.b, ok = boolValue(raw)
		case Millis:
			v.i, ok = millisValue(c.Keys[i], raw)
		case Timestamp:
			v.t, ok = timeValue(raw)
		}
		if ok {
			return v
		}
		return cell{null: true}
	}
	return cell{null: true}
}

func isNull(raw []byte) bool { return len(raw) == 4 && string(raw) == "null" }

// textValue returns a JSON string's contents, or any other value's JSON
// text. The copy buffer makes it safe for a text column.
func textValue(raw []byte) []byte {
	if len(raw) >= 2 && raw[0] == '"' {
		inner := raw[1 : len(raw)-1]
		if bytes.IndexByte(inner, '\\') < 0 {
			return inner
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []byte(s)
		}
	}
	return raw
}

// cleanText makes s storable in a PostgreSQL text column: valid UTF-8 and
// no NUL characters.
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return s
}

// unquoteNumber strips the quotes of a JSON string holding a number.
func unquoteNumber(raw []byte) []byte {
	if len(raw) >= 2 && raw[0] == '"' {
		return bytes.TrimSpace(raw[1 : len(raw)-1])
	}
	return raw
}

// parseInt parses a plain decimal integer without allocating.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		n = -n
	}
	return n, true
}

func intValue(raw []byte) (int64, bool) {
	s := unquoteNumber(raw)
	if n, ok := parseInt(s); ok {
		return n, true
	}
	if f, err := strconv.ParseFloat(string(s), 64); err == nil && f >= -9.2e18 && f <= 9.2e18 {
		return int64(f), true
	}
	return 0, false
}

func floatValue(raw []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(unquoteNumber(raw)), 64)
	return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
}

func boolValue(raw []byte) (bool, bool) {
	switch string(unquoteNumber(raw)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

func millisValue(key string, raw []byte) (int64, bool) {
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		if d, err := time.ParseDuration(s); err == nil {
			return d.Milliseconds(), true
		}
		raw = []byte(s) // a number in a string: read it with the key's unit
	}
	var ms float64
	if n, ok := parseInt(raw); ok && strings.HasSuffix(key, "_ms") {
		return n, true
	} else if f, err := strconv.ParseFloat(string(raw), 64); err != nil {
		return 0, false
	} else {
		switch {
		case strings.HasSuffix(key, "_ms"):
			ms = f
		case strings.HasSuffix(key, "_s"), strings.HasSuffix(key, "_sec"), strings.HasSuffix(key, "_seconds"):
			ms = f * 1e3
		default: // _ns or none: nanoseconds, as encoding/json writes time.Duration
			ms = f / 1e6
		}
	}
	if math.IsNaN(ms) || ms < -9.2e18 || ms > 9.2e18 {
		return 0, false
	}
	return int64(ms), true
}

// timeValue reads an RFC 3339 string or a number of Unix nanoseconds.
func timeValue(raw []byte) (int64, bool) {
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || t.Year() < 1678 || t.Year() > 2261 {
			return 0, false
		}
		return t.UnixNano(), true
	}
	return parseInt(raw)
}

// eachField calls fn with the raw key (without quotes, still escaped) and
// the raw value of every member of the top-level JSON object in data. It
// stops quietly at the first syntax error: whatever it reported before
// stays valid, and the raw event keeps the data anyway.
func eachField(data []byte, fn func(key, val []byte)) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != '"' {
			return
		}
		kStart := i
		kEnd, ok := skipString(data, i)
		if !ok {
			return
		}
		key := data[kStart+1 : kEnd-1]
		i = skipSpace(data, kEnd)
		if i >= len(data) || data[i] != ':' {
			return
		}
		i = skipSpace(data, i+1)
		vEnd, ok := skipValue(data, i)
		if !ok {
			return
		}
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if json.Unmarshal(data[kStart:kEnd], &k) == nil {
				key = []byte(k)
			}
		}
		fn(key, data[i:vEnd])
		i = skipSpace(data, vEnd)
		if i >= len(data) {
			return
		}
		switch data[i] {
		case ',':
			i++
		default: // '}' or garbage
			return
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the JSON string starting at i.
func skipString(data []byte, i int) (int, bool) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index just past the JSON value starting at i.
func skipValue(data []byte, i int) (int, bool) {
	if i >= len(data) {
		return 0, false
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, ok := skipString(data, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	default: // number, true, false, null
		j := i
		for j < len(data) {
			switch data[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return 0, false
				}
				return j, true
			}
			j++
		}
		return 0, false // a top-level object never ends on a scalar
	}
}
