package web

import (
	"encoding/json"
	"fmt"
	"sort"

	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/jsonin"
)

// Standard parameters of POST /api/v1/chats (web.md, "Web chat"); any
// other key goes into the contact data.
var chatFields = map[string]bool{"language": true, "chat_language": true, "priority": true, "customer_name": true,
	"source": true, "destination": true, "caption": true, "business_unit": true, "contact_data": true}

// DecodeChat reads the body of POST /api/v1/chats into the engine's
// request (without its session id) and makes every check that needs no
// state (contactcenter.CheckChatRequest), so that what it refuses never
// reaches the Raft log:
//
//   - the body is one JSON object with each key once (1010 / 1011);
//   - chat_language is a present string (1010); the other standard
//     parameters strings or null, priority a whole number 1-100 or null
//     (default 50) — otherwise 1011;
//   - any other key is contact data (a string, number or boolean), as are
//     the members of an explicit contact_data object (1011 when a key is
//     given both ways);
//   - then the engine's checks: languages, priority, source's forbidden
//     characters, texts, contact data (1010 / 1011).
func DecodeChat(body []byte) (cc.ChatCreateRequest, *Error) {
	var p cc.ChatCreateRequest
	fields, e := objectFields(body)
	if e != nil {
		return p, e
	}
	if p.ChatLanguage, e = mandatoryString(fields.v, "chat_language"); e != nil {
		return p, e
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"language", &p.Language}, {"customer_name", &p.CustomerName}, {"source", &p.Source},
		{"destination", &p.Destination}, {"caption", &p.Caption}, {"business_unit", &p.BusinessUnit}} {
		if *f.dst, e = optionalString(fields.v, f.name); e != nil {
			return p, e
		}
	}
	if p.Priority, e = priority(fields.v["priority"]); e != nil {
		e.Code = CodeBadParameter // chat has no priority code of its own (web.md)
		return p, e
	}
	if p.ContactData, e = contactData(fields.v["contact_data"]); e != nil {
		return p, e
	}
	seen := map[string]bool{}
	for _, kv := range p.ContactData {
		seen[kv.Key] = true
	}
	for _, k := range fields.order {
		if chatFields[k] {
			continue
		}
		if seen[k] {
			return p, newErr(CodeBadParameter, jsonin.Clip(k), fmt.Sprintf("parameter %s is given twice (also in contact_data)", jsonin.Quote(k)))
		}
		extra, e := contactData(json.RawMessage(`{` + mustQuote(k) + `:` + string(fields.v[k]) + `}`))
		if e != nil {
			e.Field = jsonin.Clip(k)
			return p, e
		}
		p.ContactData = append(p.ContactData, extra...)
	}
	sort.Slice(p.ContactData, func(i, j int) bool { return p.ContactData[i].Key < p.ContactData[j].Key })
	p.Session = "x" // checked by the engine's rule with a placeholder id
	if ce := cc.CheckChatRequest(&p); ce != nil {
		return p, newErr(ce.Code, ce.Field, ce.Msg)
	}
	p.Session = ""
	return p, nil
}

func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// chatFrame is what a customer sends over the chat WebSocket.
type chatFrame struct {
	Type string `json:"type"` // message, typing, end
	ID   string `json:"id,omitempty"`
	Text string `json:"text,omitempty"`
}

// maxFrameID bounds a message's client id (its idempotency key).
const maxFrameID = 64

// decodeFrame reads one customer frame strictly: a message has an id
// (1-64 printable ASCII, the client's key for retries) and a text the
// engine would accept.
func decodeFrame(b []byte) (chatFrame, *Error) {
	var f chatFrame
	if err := jsonin.Decode(b, &f); err != nil {
		return f, newErr(CodeBadMandatory, "", "a frame is one JSON object {type, id, text}")
	}
	switch f.Type {
	case "message":
		if f.ID == "" || len(f.ID) > maxFrameID || !printableASCII(f.ID) {
			return f, newErr(CodeBadMandatory, "id", "a message needs an id of 1-64 printable ASCII characters")
		}
		if ce := cc.CheckChatText(f.Text); ce != nil {
			return f, newErr(ce.Code, ce.Field, ce.Msg)
		}
	case "typing", "end":
		if f.Text != "" {
			return f, newErr(CodeBadParameter, "text", f.Type+" carries no text")
		}
	default:
		return f, newErr(CodeBadParameter, "type", "type must be message, typing or end")
	}
	return f, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
