package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Voicemail through a three-node cluster with a real caller: ann's
// extension forwards to voicemail; a sipp caller offering A-law is
// answered by the leader's SIP edge itself (its own SDP), sends seven
// seconds of RTP (sipp's g711a.pcap) and hangs up. The recording is
// committed as voicemail.deposited — every node applies it — and a
// follower's console API lists the message and serves it as a WAV of
// the recording's length; in Chromium, ann's console on that follower
// plays it (its audio element has the recording's duration); the
// follower restarted from its own snapshot serves the same bytes.
func TestSIPVoicemailDepositWithSipp(t *testing.T) {
	nodes := uiCluster(t, "sipvmd", uiOpts{sip: true})
	leader := waitLeader(t, nodes, 3)
	leader.op(t, "forwarding", `{"user":"ann","forwarding":{"unconditional":{"voicemail":true}}}`)

	r := sipp(t, leader.sipAddr, "caller_voicemail.xml", "u1", "-key", "queue", "2001")
	msgs := r.trace("messages")
	if r.code != 0 {
		t.Fatalf("the voicemail caller: %v\n%s", r, msgs)
	}
	for _, want := range []string{"SIP/2.0 200 OK", "m=audio", "RTP/AVP 8", "a=rtpmap:8 PCMA/8000"} {
		if !strings.Contains(msgs, want) {
			t.Fatalf("Tandem's answer lacks %q:\n%s", want, msgs)
		}
	}
	for _, n := range nodes {
		n.waitEvents(t, "the message deposited on "+n.name(), map[string]float64{"voicemail.deposited": 1, "call.ended": 1})
	}
	leader.sipCalls(t, "voicemail_deposited", 1)

	follower := followers(nodes, leader)[0]
	code, list, err := follower.get("/v1/console/voicemail?user=ann", true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("voicemail list: %d %s %v", code, list, err)
	}
	var lists []struct {
		Mailbox string `json:"mailbox"`
		Inbox   []struct {
			ID         string `json:"id"`
			From       string `json:"from"`
			Duration   int    `json:"duration_seconds"`
			AudioBytes int    `json:"audio_bytes"`
		} `json:"inbox"`
	}
	if err := json.Unmarshal(list, &lists); err != nil || len(lists) != 1 || lists[0].Mailbox != "2001" || len(lists[0].Inbox) != 1 {
		t.Fatalf("voicemail list: %v %s", err, list)
	}
	m := lists[0].Inbox[0]
	// g711a.pcap: 236 packets of 30 ms, some 7 s.
	if m.From != "+441615550101" || m.Duration < 6 || m.Duration > 9 || m.AudioBytes < 6*8000 || m.AudioBytes > 9*8000 {
		t.Fatalf("the message: %+v", m)
	}
	code, wav, err := follower.get(fmt.Sprintf("/v1/console/voicemail/2001/%s/audio", m.ID), true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("the recording: %d %.200s %v", code, wav, err)
	}
	if len(wav) < 44 || string(wav[:4]) != "RIFF" || string(wav[8:16]) != "WAVEfmt " || binary.LittleEndian.Uint16(wav[20:]) != 1 ||
		binary.LittleEndian.Uint32(wav[24:]) != 8000 || binary.LittleEndian.Uint16(wav[34:]) != 16 {
		t.Fatalf("not a 16-bit 8 kHz PCM WAV: % x", wav[:min(44, len(wav))])
	}
	data := binary.LittleEndian.Uint32(wav[40:])
	secs := float64(data) / 16000
	if int(data) != len(wav)-44 || secs < 6.5 || secs > 8.5 {
		t.Fatalf("the WAV holds %.2f s (%d data bytes of %d)", secs, data, len(wav))
	}
	// Not silence: the caller's speech came through.
	loud := 0
	for i := 44; i+1 < len(wav); i += 2 {
		if s := int16(binary.LittleEndian.Uint16(wav[i:])); s > 2000 || s < -2000 {
			loud++
		}
	}
	if loud < 8000 {
		t.Fatalf("the recording is nearly silent: %d loud samples of %d", loud, data/2)
	}
	t.Logf("recorded %.2f s, %d loud samples", secs, loud)

	// Ann plays it in her console on the follower (her session's token:
	// the list's rules).
	b := newBrowser(t, 1280, 800)
	b.must("open the console", chromedp.Navigate("http://"+follower.httpAddr+"/console/"))
	b.waitJS(waitShort, "log-in form", `!document.getElementById("login").hidden`)
	b.must("log in", chromedp.SendKeys("#login-user", "ann"), chromedp.SendKeys("#login-password", "ann-secret-1"), chromedp.Click("#login-submit"))
	b.waitJS(waitShort, "the console's state", `document.body.dataset.ready === "1"`)
	b.must("voicemail tab", chromedp.Click("#tab-voicemail"))
	row := fmt.Sprintf(`#voicemail-rows tr[data-message=%q]`, m.ID)
	b.waitJS(waitShort, "the message with a Play control", fmt.Sprintf(`(() => { const r = document.querySelector(%q); return r && r.textContent.includes("Voicemail Caller") && r.querySelector(".vm-play"); })()`, row))
	b.must("play", chromedp.Click(row+" .vm-play"))
	b.waitJS(waitShort, "the recording loaded in the audio element", fmt.Sprintf(`(() => { const a = document.querySelector(%q); return a && !a.hidden && a.src.startsWith("blob:") && a.duration > 6.5 && a.duration < 8.5; })()`, row+" audio"))
	b.shot("voicemail-playing")
	dur, err := eval[float64](b, fmt.Sprintf(`document.querySelector(%q).duration`, row+" audio"))
	if err != nil {
		t.Fatal(err)
	}
	b.noJSErrors()
	t.Logf("the console's audio element: %.2f s", dur)

	// The follower snapshots (the recording in its snapshot), restarts
	// from that snapshot and serves the same bytes.
	if r := follower.ctl("cluster", "snapshot").ok(t); !strings.Contains(r.stdout, "taken at index") {
		t.Fatalf("tandemctl cluster snapshot on %s: %q", follower.name(), r.stdout)
	}
	follower.stop(10 * time.Second)
	follower.start()
	waitFor(t, waitCluster, follower.name()+" to restore its snapshot", func() (bool, string) {
		return strings.Contains(follower.log(), "restored from snapshot"), follower.logTail(3)
	})
	waitFor(t, waitCluster, follower.name()+" to serve the recording again", func() (bool, string) {
		code, again, err := follower.get(fmt.Sprintf("/v1/console/voicemail/2001/%s/audio", m.ID), true)
		return err == nil && code == http.StatusOK && bytes.Equal(again, wav), fmt.Sprintf("%d %d bytes %v", code, len(again), err)
	})
}
