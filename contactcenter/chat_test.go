package contactcenter

import (
	"strings"
	"testing"
)

const chatDoc = `
chat:
  languages: [en, es, pt-BR]
  queue: support
`

func newChatHarness(t *testing.T, extra string) *harness {
	t.Helper()
	h := newHarness(t, baseDoc)
	h.config(chatDoc + extra)
	return h
}

func baseChat(id string) ChatCreateRequest {
	return ChatCreateRequest{Session: id, ChatLanguage: "en", Priority: 50, CustomerName: "Ana Pérez", Source: "web.shop-1/x",
		Caption: "Where is my order?"}
}

// Every refusal of chat.create at its boundary: the code of web.md, and
// nothing changes (the harness compares the hash and the events).
func TestChatCreateCodes(t *testing.T) {
	long := strings.Repeat("ñ", 400) // no limit of its own but the engine's bound of free texts
	cases := []struct {
		name string
		mod  func(*ChatCreateRequest)
		code int
	}{
		{"ok", func(*ChatCreateRequest) {}, 0},
		{"priority 1", func(p *ChatCreateRequest) { p.Priority = 1 }, 0},
		{"priority 100", func(p *ChatCreateRequest) { p.Priority = 100 }, 0},
		{"priority 0", func(p *ChatCreateRequest) { p.Priority = 0 }, CodeBadParameter},
		{"priority 101", func(p *ChatCreateRequest) { p.Priority = 101 }, CodeBadParameter},
		{"chat language missing", func(p *ChatCreateRequest) { p.ChatLanguage = "" }, CodeBadMandatory},
		{"chat language malformed", func(p *ChatCreateRequest) { p.ChatLanguage = "EN" }, CodeBadMandatory},
		{"chat language not configured", func(p *ChatCreateRequest) { p.ChatLanguage = "fr" }, CodeBadParameter},
		{"chat language xx-YY", func(p *ChatCreateRequest) { p.ChatLanguage = "pt-BR" }, 0},
		{"page language bad", func(p *ChatCreateRequest) { p.Language = "../x" }, CodeBadParameter},
		{"page language", func(p *ChatCreateRequest) { p.Language = "es" }, 0},
		{"long customer name", func(p *ChatCreateRequest) { p.CustomerName = long }, 0},
		{"name control char", func(p *ChatCreateRequest) { p.CustomerName = "a\x01" }, CodeBadParameter},
		{"source non-ASCII", func(p *ChatCreateRequest) { p.Source = "webñ" }, CodeBadParameter},
		{"source non-printable", func(p *ChatCreateRequest) { p.Source = "web\x7f" }, CodeBadParameter},
		{"source space ok", func(p *ChatCreateRequest) { p.Source = "web page 1" }, 0},
		{"destination queue", func(p *ChatCreateRequest) { p.Destination = "sales" }, 0},
		{"destination other", func(p *ChatCreateRequest) { p.Destination = "the shop" }, 0},
		{"unknown business unit (single tenant)", func(p *ChatCreateRequest) { p.BusinessUnit = "bu9" }, 0},
		{"contact data", func(p *ChatCreateRequest) { p.ContactData = []CallbackDatum{{"a", "1"}, {"b", "x"}} }, 0},
		{"contact data unsorted", func(p *ChatCreateRequest) { p.ContactData = []CallbackDatum{{"b", "1"}, {"a", "x"}} }, CodeBadParameter},
		{"contact data 1001", func(p *ChatCreateRequest) { p.ContactData = []CallbackDatum{{"k", strings.Repeat("ü", 999)}} }, CodeBadParameter},
	}
	for _, ch := range "`*,\"!%()_" {
		cases = append(cases, struct {
			name string
			mod  func(*ChatCreateRequest)
			code int
		}{"source " + string(ch), func(p *ChatCreateRequest) { p.Source = "a" + string(ch) + "b" }, CodeBadParameter})
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newChatHarness(t, "")
			h.check = true
			p := baseChat("s" + string(rune('a'+i%26)))
			tc.mod(&p)
			_, err := h.apply(TypeChatCreate, p)
			if got := cbCode(err); got != tc.code {
				t.Fatalf("code %d (%v), want %d", got, err, tc.code)
			}
			if err == nil && !h.hasEvent(EvChatCreated) {
				t.Fatal("no chat.created")
			}
		})
	}
}

func TestChatBusinessUnitMultiTenant(t *testing.T) {
	h := newChatHarness(t, "business_units:\n  - {id: bu1, name: One}\n")
	h.check = true
	p := baseChat("s1")
	if _, err := h.apply(TypeChatCreate, p); cbCode(err) != CodeBadMandatory {
		t.Fatalf("missing business unit: %v", err)
	}
	p.BusinessUnit = "bu2"
	if _, err := h.apply(TypeChatCreate, p); cbCode(err) != CodeBadParameter {
		t.Fatalf("unknown business unit: %v", err)
	}
	p.BusinessUnit = "bu1"
	h.ok(TypeChatCreate, p)
}

func TestChatNotConfigured(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.check = true
	if _, err := h.apply(TypeChatCreate, baseChat("s1")); cbCode(err) != CodeBadParameter {
		t.Fatalf("no chat section: %v", err)
	}
	if _, err := h.apply(TypeConfigApply, map[string]any{"document": map[string]any{"chat": map[string]any{"languages": []string{"en"}, "queue": "nope"}}}); err == nil {
		t.Fatal("chat.queue naming no queue accepted")
	}
}

// A session is routed like any contact, messages are numbered per
// session, the agent writes only while it holds the call, an ended
// session is 1007.
func TestChatConversation(t *testing.T) {
	h := newChatHarness(t, "")
	h.check = true
	h.connect("a3")
	h.ok(TypeChatCreate, baseChat("s1"))
	if h.offerOf("a3") != "s1" {
		t.Fatalf("the chat is not offered to a3: %+v", h.agent("a3"))
	}
	seq := func(res any) int { return res.(ChatMessageResult).Seq }
	if got := seq(h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromCustomer, Text: "hello"})); got != 1 {
		t.Fatalf("seq %d", got)
	}
	// Not answered yet: the agent cannot write.
	h.fail(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromAgent, Agent: "a3", Text: "hi"}, ErrNotYours)
	h.answer("a3")
	if !h.hasEvent(EvChatAnswered) {
		t.Fatal("no chat.answered")
	}
	if got := seq(h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromAgent, Agent: "a3", Text: "hi\nhow can I help?"})); got != 2 {
		t.Fatalf("seq %d", got)
	}
	h.fail(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromAgent, Agent: "a1", Text: "x"}, ErrNotYours)
	h.ok(TypeChatTyping, ChatMessageRequest{Session: "s1", From: ChatFromCustomer})
	if !h.hasEvent(EvChatTyping) {
		t.Fatal("no chat.typing")
	}
	for _, bad := range []ChatMessageRequest{
		{Session: "s1", From: ChatFromCustomer, Text: ""},
		{Session: "s1", From: ChatFromCustomer, Text: strings.Repeat("é", MaxChatMessageRunes+1)},
		{Session: "s1", From: ChatFromCustomer, Text: "a\x00"},
		{Session: "s1", From: "robot", Text: "x"},
		{Session: "s1", From: ChatFromCustomer, Agent: "a3", Text: "x"},
	} {
		if _, err := h.apply(TypeChatMessage, bad); cbCode(err) != CodeBadParameter && cbCode(err) != CodeBadMandatory {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
	h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromCustomer, Text: strings.Repeat("é", MaxChatMessageRunes)})
	msgs, v, ok := h.e.ChatMessages("s1", 1, 10)
	if !ok || len(msgs) != 2 || msgs[0].Seq != 2 || msgs[0].From != ChatFromAgent || v.Status != ChatConnected || v.Agent != "a3" {
		t.Fatalf("transcript after 1: %+v %+v", msgs, v)
	}
	// The agent hangs up: the session ends.
	h.ok(TypeCallHangup, HangupRequest{Agent: "a3"})
	if !h.hasEvent(EvChatEnded) {
		t.Fatal("no chat.ended")
	}
	if _, err := h.apply(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromCustomer, Text: "x"}); cbCode(err) != CodeInvalidSession {
		t.Fatalf("ended session: %v", err)
	}
	if _, err := h.apply(TypeChatMessage, ChatMessageRequest{Session: "nope", From: ChatFromCustomer, Text: "x"}); cbCode(err) != CodeInvalidSession {
		t.Fatalf("unknown session: %v", err)
	}
	if _, err := h.apply(TypeChatEnd, ChatEndRequest{Session: "s1", By: ChatFromCustomer}); cbCode(err) != CodeInvalidSession {
		t.Fatalf("end of an ended session: %v", err)
	}
}

func TestChatCustomerEndsWhileQueued(t *testing.T) {
	h := newChatHarness(t, "")
	h.check = true
	h.ok(TypeChatCreate, baseChat("s1"))
	h.ok(TypeChatEnd, ChatEndRequest{Session: "s1", By: ChatFromCustomer})
	if _, ok := h.call("s1"); ok {
		t.Fatal("the session's call outlived it")
	}
	v, _ := h.e.Chat("s1")
	if v.Status != ChatEnded {
		t.Fatalf("status %s", v.Status)
	}
}

func TestChatTranscriptBound(t *testing.T) {
	h := newChatHarness(t, "")
	h.ok(TypeChatCreate, baseChat("s1"))
	for i := 0; i < MaxChatMessages; i++ {
		h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromCustomer, Text: "m"})
	}
	h.check = true
	if _, err := h.apply(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromCustomer, Text: "m"}); cbCode(err) != CodeBadParameter {
		t.Fatalf("message %d: %v", MaxChatMessages+1, err)
	}
}

func TestChatSettingsValidation(t *testing.T) {
	for _, tc := range []struct {
		cs ChatSettings
		ok bool
	}{
		{ChatSettings{Languages: []string{"en"}}, true},
		{ChatSettings{}, false},
		{ChatSettings{Languages: []string{"en", "en"}}, false},
		{ChatSettings{Languages: []string{"english"}}, false},
		{ChatSettings{Languages: []string{"en"}, Queue: "bad id!"}, false},
	} {
		if _, err := checkChatSettings(tc.cs); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.cs, err)
		}
	}
}
