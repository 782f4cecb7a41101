package contactcenter

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// A deposit's recording: validated, kept outside State (the list and
// the event carry only its size), dropped with its message, and carried
// whole by a snapshot.
func TestVoicemailAudioDeposit(t *testing.T) {
	sec := func(n int) []byte { return bytes.Repeat([]byte{0xd5}, n) }
	for _, tc := range []struct {
		name string
		req  VoicemailDepositRequest
		ok   bool
	}{
		{"pcma", VoicemailDepositRequest{Mailbox: "3001", Message: "a", Codec: CodecPCMA, Audio: sec(8000), DurationSeconds: 1}, true},
		{"pcmu rounded up", VoicemailDepositRequest{Mailbox: "3001", Message: "b", Codec: CodecPCMU, Audio: sec(8001), DurationSeconds: 2}, true},
		{"longest", VoicemailDepositRequest{Mailbox: "3001", Message: "c", Codec: CodecPCMU, Audio: sec(MaxVoicemailAudioBytes), DurationSeconds: MaxVoicemailAudioSeconds}, true},
		{"too long", VoicemailDepositRequest{Mailbox: "3001", Message: "d", Codec: CodecPCMU, Audio: sec(MaxVoicemailAudioBytes + 1), DurationSeconds: MaxVoicemailAudioSeconds + 1}, false},
		{"unknown codec", VoicemailDepositRequest{Mailbox: "3001", Message: "e", Codec: "opus", Audio: sec(10), DurationSeconds: 1}, false},
		{"no codec", VoicemailDepositRequest{Mailbox: "3001", Message: "f", Audio: sec(10), DurationSeconds: 1}, false},
		{"codec without audio", VoicemailDepositRequest{Mailbox: "3001", Message: "g", Codec: CodecPCMA}, false},
		{"duration not the recording's", VoicemailDepositRequest{Mailbox: "3001", Message: "h", Codec: CodecPCMA, Audio: sec(16000), DurationSeconds: 7}, false},
		{"no audio", VoicemailDepositRequest{Mailbox: "3001", Message: "i", DurationSeconds: 7}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseDoc)
			b, _ := json.Marshal(tc.req)
			if err := CheckPayload(TypeVoicemailDeposited, b); err != nil {
				t.Fatalf("CheckPayload: %v", err)
			}
			if !tc.ok {
				h.fail(TypeVoicemailDeposited, tc.req, nil)
				if len(h.e.audio) != 0 || h.e.audioBytes != 0 {
					t.Fatalf("a refused deposit kept audio")
				}
				return
			}
			var ev VoicemailEvent
			remarshal(t, h.ok(TypeVoicemailDeposited, tc.req), &ev)
			if ev.AudioBytes != len(tc.req.Audio) {
				t.Fatalf("event audio_bytes %d, want %d", ev.AudioBytes, len(tc.req.Audio))
			}
			a, ok := h.e.VoicemailAudio("3001", tc.req.Message)
			if ok != (len(tc.req.Audio) > 0) || !bytes.Equal(a.Data, tc.req.Audio) || a.Codec != tc.req.Codec {
				t.Fatalf("audio %v %q %d bytes", ok, a.Codec, len(a.Data))
			}
			v, _ := h.e.Voicemail("3001")
			if len(v.Inbox) != 1 || v.Inbox[0].AudioBytes != len(tc.req.Audio) {
				t.Fatalf("list %+v", v)
			}
			st, _ := json.Marshal(v)
			if len(tc.req.Audio) > 0 && bytes.Contains(st, []byte("1dXV")) {
				t.Fatalf("the list carries the audio: %s", st)
			}
		})
	}
}

func TestVoicemailAudioLifecycle(t *testing.T) {
	h := newHarness(t, baseDoc)
	audio := bytes.Repeat([]byte{1, 2, 3, 4}, 4000)
	h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: "m1", From: "+441615550000", Codec: CodecPCMU, Audio: audio, DurationSeconds: 2})
	h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3002", Message: "m2", Codec: CodecPCMA, Audio: audio[:800], DurationSeconds: 1})
	if h.e.audioBytes != len(audio)+800 {
		t.Fatalf("audio bytes %d", h.e.audioBytes)
	}
	// State (View, what a console or the status shows) has no audio.
	var stJSON []byte
	h.e.View(func(st *State) { stJSON, _ = json.Marshal(st) })
	if strings.Contains(string(stJSON), "AQIDBAECAwQ") {
		t.Fatal("State carries the audio")
	}
	// A snapshot carries it; a restored engine serves the same bytes and
	// has the same hash.
	r := restored(t, h.e)
	if a, ok := r.VoicemailAudio("3001", "m1"); !ok || a.Codec != CodecPCMU || !bytes.Equal(a.Data, audio) {
		t.Fatalf("restored audio %v %q %d", ok, a.Codec, len(a.Data))
	}
	if r.Hash() != h.e.Hash() || r.audioBytes != h.e.audioBytes {
		t.Fatalf("restored engine differs: %d bytes vs %d", r.audioBytes, h.e.audioBytes)
	}
	// Deleting the message drops its recording.
	h.ok(TypeVoicemailDelete, VoicemailDeleteRequest{Mailbox: "3001", Message: "m1"})
	if _, ok := h.e.VoicemailAudio("3001", "m1"); ok || h.e.audioBytes != 800 {
		t.Fatalf("deleted message's audio kept (%d bytes)", h.e.audioBytes)
	}
	// Removing the extension drops its mailbox's recordings.
	d, err := ParseDocument([]byte(strings.ReplaceAll(baseDoc, `"3002"`, `"3099"`)))
	if err == nil {
		err = ResolveZones(&d)
	}
	if err != nil {
		t.Fatal(err)
	}
	h.ok(TypeConfigApply, ApplyRequest{Document: d, Prune: true})
	if _, ok := h.e.VoicemailAudio("3002", "m2"); ok || h.e.audioBytes != 0 || len(h.e.audio) != 0 {
		t.Fatalf("removed mailbox's audio kept (%d bytes)", h.e.audioBytes)
	}
}

// A full mailbox drops its oldest message with its recording; past the
// engine's total the message is kept without one.
func TestVoicemailAudioBounds(t *testing.T) {
	h := newHarness(t, baseDoc)
	one := []byte{0xff}
	for i := 0; i <= MaxVoicemailMessages; i++ {
		h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: "m" + strconv.Itoa(i), Codec: CodecPCMU, Audio: one, DurationSeconds: 1})
	}
	if _, ok := h.e.VoicemailAudio("3001", "m0"); ok || h.e.audioBytes != MaxVoicemailMessages {
		t.Fatalf("dropped message's audio kept: %d bytes", h.e.audioBytes)
	}
	h.e.maxAudio = h.e.audioBytes // full
	var ev VoicemailEvent
	remarshal(t, h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3002", Message: "x", Codec: CodecPCMU, Audio: one, DurationSeconds: 1}), &ev)
	if ev.AudioBytes != 0 {
		t.Fatalf("a deposit past the total kept its audio: %+v", ev)
	}
	if _, ok := h.e.VoicemailAudio("3002", "x"); ok {
		t.Fatal("audio kept past the total")
	}
}
