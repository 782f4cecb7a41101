package console

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"testing"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// A message's recording is served as audio/wav to whoever may read the
// mailbox's list: its owner, a user monitoring it (granted with its
// PIN), the admin mount; nobody else.
func TestVoicemailAudio(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	r.config(fmt.Sprintf(rigDoc, annHash, benHash))
	ann, ben := r.login("ann", "ann-password"), r.login("ben", "ben-password")
	audio := bytes.Repeat([]byte{0xd5, 0x55}, 4000) // 1 s of A-law
	r.edge("voicemail_deposited", cc.VoicemailDepositRequest{Mailbox: "2001", Message: "m1", From: "+441615550101", DurationSeconds: 1, Codec: cc.CodecPCMA, Audio: audio})
	r.edge("voicemail_deposited", cc.VoicemailDepositRequest{Mailbox: "2001", Message: "silent", DurationSeconds: 3})
	get := func(tok, path string) (int, http.Header, []byte) {
		t.Helper()
		url := r.public.URL + PublicPrefix + path
		if tok == "admin" {
			url, tok = r.admin.URL+"/v1/console"+path, ""
		}
		req, _ := http.NewRequest("GET", url, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	for _, tc := range []struct {
		name, who, path string
		code            int
	}{
		{"owner", ann, "/voicemail/2001/m1/audio", 200},
		{"admin", "admin", "/voicemail/2001/m1/audio", 200},
		{"another user", ben, "/voicemail/2001/m1/audio", 403},
		{"no session", "", "/voicemail/2001/m1/audio", 401},
		{"unknown message", ann, "/voicemail/2001/nope/audio", 404},
		{"no recording", ann, "/voicemail/2001/silent/audio", 404},
		{"unknown mailbox", ann, "/voicemail/9999/m1/audio", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, h, b := get(tc.who, tc.path)
			if code != tc.code {
				t.Fatalf("%d %s, want %d", code, b, tc.code)
			}
			if code != 200 {
				return
			}
			if h.Get("Content-Type") != "audio/wav" || len(b) != 44+2*len(audio) || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" ||
				binary.LittleEndian.Uint32(b[24:]) != 8000 || binary.LittleEndian.Uint32(b[40:]) != uint32(2*len(audio)) {
				t.Fatalf("not the WAV of the recording: %s %d bytes % x", h.Get("Content-Type"), len(b), b[:min(44, len(b))])
			}
		})
	}
	// The list tells which messages have a recording.
	rep := r.call("GET", r.public.URL+PublicPrefix+"/voicemail?mailbox=2001", ann, nil)
	if rep.code != 200 || !bytes.Contains([]byte(rep.raw), []byte(`"audio_bytes":8000`)) {
		t.Fatalf("list: %d %s", rep.code, rep.raw)
	}
	// Ben monitoring ann's mailbox with its PIN may play it.
	if rep := r.call("POST", r.public.URL+PublicPrefix+"/voicemail/pin", ann, map[string]any{"pin": "804172"}); rep.code != 200 {
		t.Fatalf("pin: %d %s", rep.code, rep.raw)
	}
	if rep := r.call("POST", r.public.URL+PublicPrefix+"/voicemail/monitor", ben, map[string]any{"mailbox": "2001", "pin": "804172", "monitor": true}); rep.code != 200 {
		t.Fatalf("monitor: %d %s", rep.code, rep.raw)
	}
	if code, _, b := get(ben, "/voicemail/2001/m1/audio"); code != 200 || len(b) != 44+2*len(audio) {
		t.Fatalf("the monitoring user: %d %d bytes", code, len(b))
	}
}
