package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// TestVoicemailPINs: ann sets and changes her mailbox's PIN (the current
// one needed), ben monitors her mailbox only with the right PIN (wrong:
// 403 naming the field, nothing changed), then sees its list and its
// events; no PIN and no hash reaches an answer, a stream, the state
// document or the log.
func TestVoicemailPINs(t *testing.T) {
	var logs bytes.Buffer
	r := newRig(t, rigOpts{logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	r.config(fmt.Sprintf(rigDoc, annHash, benHash))
	ann, ben := r.login("ann", "ann-password"), r.login("ben", "ben-password")
	var answers []string
	post := func(tok, path string, body any) reply {
		t.Helper()
		rep := r.call("POST", r.public.URL+PublicPrefix+"/voicemail/"+path, tok, body)
		answers = append(answers, rep.raw)
		return rep
	}
	expect := func(rep reply, code int, field string) {
		t.Helper()
		if rep.code != code || (field != "" && rep.body["field"] != field) {
			t.Fatalf("%d %s, want %d field %q", rep.code, rep.raw, code, field)
		}
	}
	d0 := r.call("GET", r.public.URL+PublicPrefix+"/state", ben, nil)
	var doc StateDoc
	json.Unmarshal([]byte(d0.raw), &doc)
	annStream, benStream := r.stream(ann, doc.Since), r.stream(ben, doc.Since)

	const pin1, pin2 = "804172", "936251"
	expect(post(ann, "pin", map[string]any{"pin": "12ab"}), 400, "pin")
	expect(post(ann, "pin", map[string]any{"pin": "123"}), 400, "pin")
	expect(post(ann, "pin", map[string]any{"pin": pin1, "colour": "red"}), 400, "colour")
	expect(post(ann, "pin", map[string]any{"pin": pin1}), 200, "")
	expect(post(ann, "pin", map[string]any{"pin": pin2}), 400, "current")
	expect(post(ann, "pin", map[string]any{"pin": pin2, "current": "000000"}), 403, "current")
	if r.engine.MailboxPINHash("2001") == "" || VerifyPassword(r.engine.MailboxPINHash("2001"), pin1) != nil {
		t.Fatal("a wrong current PIN changed the PIN")
	}
	expect(post(ann, "pin", map[string]any{"pin": pin2, "current": pin1}), 200, "")
	if VerifyPassword(r.engine.MailboxPINHash("2001"), pin2) != nil {
		t.Fatal("the PIN did not change")
	}
	annStream.until(cc.EvVoicemailPINSet)

	// Ben picks ann's mailbox: the wrong PIN is refused and changes
	// nothing; a mailbox without a PIN reads the same.
	before := r.engine.Hash()
	expect(post(ben, "monitor", map[string]any{"mailbox": "2001", "pin": pin1, "monitor": true}), 403, "pin")
	expect(post(ben, "monitor", map[string]any{"mailbox": "3001", "pin": pin1, "monitor": true}), 403, "pin")
	expect(post(ben, "monitor", map[string]any{"mailbox": "2001", "monitor": true}), 400, "pin")
	expect(post(ben, "monitor", map[string]any{"mailbox": "20-01", "pin": pin2, "monitor": true}), 400, "mailbox")
	if r.engine.Hash() != before {
		t.Fatal("a refused monitor changed the state")
	}
	if rep := r.call("GET", r.public.URL+PublicPrefix+"/voicemail?mailbox=2001", ben, nil); rep.code != 403 && rep.code != 404 {
		t.Fatalf("ben reads 2001 before: %d %s", rep.code, rep.raw)
	}
	expect(post(ben, "monitor", map[string]any{"mailbox": "2001", "pin": pin2, "monitor": true}), 200, "")
	benStream.until(cc.EvVoicemailMonitored)
	r.edge("voicemail_deposited", map[string]any{"mailbox": "2001", "message": "m1", "from": "+44 161 5527789"})
	benStream.until(cc.EvVoicemailDeposited)
	rep := r.call("GET", r.public.URL+PublicPrefix+"/voicemail", ben, nil)
	if rep.code != 200 || !strings.Contains(rep.raw, `"mailbox":"2001"`) || !strings.Contains(rep.raw, `"m1"`) {
		t.Fatalf("ben's mailboxes: %d %s", rep.code, rep.raw)
	}
	expect(post(ben, "monitor", map[string]any{"mailbox": "2001", "monitor": false}), 200, "")
	if rep := r.call("GET", r.public.URL+PublicPrefix+"/voicemail?mailbox=2001", ben, nil); rep.code == 200 {
		t.Fatalf("ben still reads 2001: %s", rep.raw)
	}
	// The admin token acts for no one's PIN.
	if rep := r.call("POST", r.admin.URL+"/v1/console/voicemail/pin", "", map[string]any{"pin": pin1}); rep.code != 403 {
		t.Fatalf("admin sets a PIN: %d %s", rep.code, rep.raw)
	}

	// Nothing of the PINs anywhere a console or an operator looks.
	annState := r.call("GET", r.public.URL+PublicPrefix+"/state", ann, nil).raw
	var st []byte
	r.engine.View(func(s *cc.State) { st, _ = json.Marshal(s) })
	outputs := map[string]string{"answers": strings.Join(answers, "\n"), "ann's stream": strings.Join(annStream.raw, "\n"),
		"ben's stream": strings.Join(benStream.raw, "\n"), "ann's state": annState, "engine state": string(st), "log": logs.String()}
	hash := r.engine.MailboxPINHash("2001")
	for what, out := range outputs {
		for _, secret := range []string{pin1, pin2, hash, hash[strings.LastIndexByte(hash, '$')+1:], "pin_hash"} {
			if strings.Contains(out, secret) {
				t.Errorf("the %s holds a PIN secret (%.10s…)", what, secret)
			}
		}
	}
}
