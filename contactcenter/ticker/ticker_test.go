package ticker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
)

func TestStep(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name     string
		leader   bool
		deadline int64
		has      bool
		fail     error
		want     bool
	}{
		{"follower", false, now.UnixNano() - 1, true, nil, false},
		{"nothing due", true, 0, false, nil, false},
		{"deadline ahead", true, now.UnixNano() + 1, true, nil, false},
		{"deadline now", true, now.UnixNano(), true, nil, true},
		{"deadline passed", true, now.UnixNano() - int64(time.Second), true, nil, true},
		{"commit fails", true, now.UnixNano() - 1, true, errors.New("no leader"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var proposed []string
			tk := &Ticker{
				IsLeader: func() bool { return tt.leader },
				Next:     func() (int64, bool) { return tt.deadline, tt.has },
				Propose: func(_ context.Context, typ string, payload any, _ ...cluster.ProposeOption) (cluster.Result, error) {
					proposed = append(proposed, typ)
					return cluster.Result{}, tt.fail
				},
				Now: func() time.Time { return now },
			}
			if got := tk.Step(context.Background()); got != tt.want {
				t.Errorf("Step = %v, want %v", got, tt.want)
			}
			wantProposed := tt.leader && tt.has && tt.deadline <= now.UnixNano()
			if (len(proposed) == 1) != wantProposed || (wantProposed && proposed[0] != cc.TypeClockTick) {
				t.Errorf("proposed %v (want a %s: %v)", proposed, cc.TypeClockTick, wantProposed)
			}
		})
	}
}
