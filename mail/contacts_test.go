package mail

import (
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
)

// E-mail contacts ended are counted for the SNMP contact table; calls are
// not (they are voice's).
func TestContactsCountsEmailOnly(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	c := &Contacts{Live: func() int { return 4 }}
	ev := func(data string, at time.Time) command.Event {
		return command.Event{Type: cc.EvCallEnded, Time: at.UnixNano(), Data: []byte(data)}
	}
	c.Publish([]command.Event{
		ev(`{"call":"mail-1-1","reason":"hangup","place":"line","medium":"email","duration_ms":1}`, now.Add(-time.Minute)),
		ev(`{"call":"mail-1-2","reason":"hangup","place":"line","medium":"email","duration_ms":1}`, now.Add(-2*time.Hour)),
		ev(`{"call":"c1","reason":"hangup","place":"line","duration_ms":1}`, now.Add(-time.Minute)),
		{Type: cc.EvMailReceived, Time: now.UnixNano(), Data: []byte(`{}`)},
	})
	got := c.ContactCounts(now)
	if got.Current != 4 || got.LastHour != 1 || got.LastDay != 2 {
		t.Fatalf("counts %+v", got)
	}
	if err := c.Sync(); err != nil {
		t.Fatal(err)
	}
}
