package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Voicemail through a three-node cluster with a real caller: ann's
// extension forwards to voicemail; a sipp caller offering A-law is
// answered by the leader's SIP edge itself (its own SDP), sends seven
// seconds of RTP (sipp's g711a.pcap) and hangs up. The recording is
// committed as voicemail.deposited — every node applies it — and a
// follower's console API lists the message and serves it as a WAV of
// the recording's length.
func TestSIPVoicemailDepositWithSipp(t *testing.T) {
	opts := map[int][]nodeOpt{}
	for i := 0; i < 3; i++ {
		opts[i] = []nodeOpt{withArgs("--sip-trusted", "127.0.0.1")}
	}
	nodes := startCluster(t, "sipvmd", 3, opts)
	leader := waitLeader(t, nodes, 3)
	leader.apply(parkConfig).ok(t)
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
	code, b, err := follower.get("/v1/console/voicemail?user=ann", true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("voicemail list: %d %s %v", code, b, err)
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
	if err := json.Unmarshal(b, &lists); err != nil || len(lists) != 1 || lists[0].Mailbox != "2001" || len(lists[0].Inbox) != 1 {
		t.Fatalf("voicemail list: %v %s", err, b)
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
}
