package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
)

// failingStore answers every Propose and Read with err.
type failingStore struct{ err error }

func (s failingStore) Propose(context.Context, string, any, ...cluster.ProposeOption) (cluster.Result, error) {
	return cluster.Result{}, s.err
}
func (s failingStore) Read(context.Context, cluster.Consistency) error { return s.err }

type noCallbacks struct{}

func (noCallbacks) Callback(string) (cc.CallbackView, bool) { return cc.CallbackView{}, false }

// The cluster's failures map to their code and status on every route.
func TestClusterFailuresMapped(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   int
		status int
	}{
		{"no leader", apierr.Wrap(apierr.NotLeader, errors.New("no leader")), CodeCallbackServer, 503},
		{"shutting down", apierr.Wrap(apierr.Unavailable, errors.New("stopping")), CodeCallbackServer, 503},
		{"timeout", context.DeadlineExceeded, CodeCallbackServer, 504},
		{"disk full", apierr.Wrap(apierr.NoSpace, errors.New("ENOSPC")), CodeCallbackServer, 507},
		{"client gone", context.Canceled, CodeGeneral, apierr.StatusClientClosedRequest},
		{"a callback rule, forwarded", &cluster.Refusal{Msg: "callback 17006: a callback to this number is already open", Field: "phone"}, CodeDuplicate, 409},
		{"another refusal (standby)", &cluster.Refusal{Msg: "this cluster is a standby: it refuses writes"}, CodeCallbackServer, 409},
		{"anything else", errors.New("boom"), CodeInternal, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			(&Handler{Store: failingStore{tc.err}, Engine: noCallbacks{}}).Routes(mux)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			resp, err := http.Post(srv.URL+"/api/v1/callbacks", "application/json", strings.NewReader(`{"queue":"q","phone":"123"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			e := fromCluster(tc.err)
			if e.Code != tc.code || e.HTTPStatus() != tc.status || resp.StatusCode != tc.status {
				t.Fatalf("%v → %d %d (HTTP %d), want %d %d", tc.err, e.Code, e.HTTPStatus(), resp.StatusCode, tc.code, tc.status)
			}
			if strings.Contains(e.Message, "boom") || strings.Contains(e.Message, "ENOSPC") {
				t.Fatalf("message shows the internal error: %q", e.Message)
			}
		})
	}
}

// Every code has a message and a status, and the documented table
// (DESIGN.md) names each code the server answers.
func TestCodesDocumented(t *testing.T) {
	design := readDesign(t)
	for code, msg := range Messages {
		if msg == "" {
			t.Errorf("%d has no message", code)
		}
		switch code {
		case CodeCannotConnect, CodeConnectFailed, CodePageNotFound, CodeInvalidSession, CodeNoJavaScript, CodeAllocation, CodeCallbackGeneral:
			continue // the browser's, or later features'
		}
		if !strings.Contains(design, fmt.Sprintf("| %d |", code)) {
			t.Errorf("%d is not in DESIGN.md's table", code)
		}
	}
}

func readDesign(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("DESIGN.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
