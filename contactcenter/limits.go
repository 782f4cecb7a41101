package contactcenter

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemcc/tandem/internal/jsonin"
)

// Limits of text fields (DESIGN.md, "Limits of input"). Every text field
// of the configuration document and of every command payload has a kind;
// each kind has a maximum length, in bytes of UTF-8, and a rule for its
// characters. Validate (every configuration document, on every path) and
// CheckPayload (every command at the edge) enforce them, naming the field;
// the handlers of the hot path check the free texts they store
// themselves (checkText).
const (
	// MaxIDLen bounds IDs: 1-64 of A-Z a-z 0-9 _ . -, starting with a
	// letter or digit (agents, queues, users, calls, phones, skills,
	// pause reasons, categories, messages, reports, calendar entries).
	MaxIDLen = 64
	// MaxExtensionLen bounds extension numbers: 2-15 digits.
	MaxExtensionLen = 15
	// MaxNameLen bounds names: display, first and last names, companies,
	// queue, agent and business-unit names, caller names.
	MaxNameLen = 128
	// MaxLabelLen bounds speed-dial labels.
	MaxLabelLen = 64
	// MaxNoteLen bounds call and park notes.
	MaxNoteLen = 500
	// MaxDescriptionLen bounds problem descriptions.
	MaxDescriptionLen = 2000
	// MaxNumberLen bounds phone numbers as written (stored or dialled).
	MaxNumberLen = 64
	// MaxEmailLen bounds e-mail addresses (RFC 5321's path limit).
	MaxEmailLen = 254
	// MaxKeywordLen bounds values from a fixed set or of a fixed form:
	// strategies, phone kinds, presences, folders, sides, modes,
	// categories of forwarding, directory fields, HH:MM times, dialling
	// codes.
	MaxKeywordLen = 32
	// MaxPasswordHashLen bounds a user's password hash (its form is
	// checked beside).
	MaxPasswordHashLen = 256
	// MaxURILen bounds a SIP URI (a phone's registered contact).
	MaxURILen = 256
	// MaxEdgeLen bounds the opaque data an edge keeps with a call
	// (IncomingRequest.Edge).
	MaxEdgeLen = 4096
	// MaxSecretLen (extension.go) bounds a phone's SIP secret: 16-256.
	// MaxAddressLen bounds a network address ("host:port").
	MaxAddressLen = 261
)

// textKind is the kind of a text field: its maximum length and rule.
type textKind uint8

const (
	kindNone textKind = iota
	kindID
	kindExtension
	kindName
	kindLabel
	kindNote
	kindDescription
	kindNumber
	kindEmail
	kindKeyword
	kindSecret
	kindPasswordHash
	kindHost
	kindPath
	kindPassword
	kindMailbox
	kindMessageID
	kindBody
	kindURI
	kindAddress
	kindCustomerName
	kindCallbackText
	kindContactData
	kindChatText
	kindEdge
)

// textKinds describes each kind: its length limit, what a value of it is
// called, and whether it is text people write (names, free texts, which
// refuse control and bidirectional characters). IDs and extensions have
// stricter patterns of their own; secrets and hashes are never quoted.
var textKinds = [...]struct {
	max      int
	noun     string // "an ID", for "want a list of IDs"
	plural   string
	text     bool // the rule of names and free texts applies
	quotable bool // an error may quote a prefix of the value
}{
	kindNone:         {MaxNameLen, "a string", "strings", true, true},
	kindID:           {MaxIDLen, "an ID", "IDs", false, true},
	kindExtension:    {MaxExtensionLen, "an extension number", "extension numbers", false, true},
	kindName:         {MaxNameLen, "a name", "names", true, true},
	kindLabel:        {MaxLabelLen, "a label", "labels", true, true},
	kindNote:         {MaxNoteLen, "a note", "notes", true, true},
	kindDescription:  {MaxDescriptionLen, "a description", "descriptions", true, true},
	kindNumber:       {MaxNumberLen, "a phone number", "phone numbers", true, true},
	kindEmail:        {MaxEmailLen, "an e-mail address", "e-mail addresses", true, true},
	kindKeyword:      {MaxKeywordLen, "a keyword", "keywords", true, true},
	kindSecret:       {MaxSecretLen, "a secret", "secrets", true, false},
	kindPasswordHash: {MaxPasswordHashLen, "a password hash", "password hashes", true, false},
	kindHost:         {MaxHostLen, "a host name", "host names", true, true},
	kindPath:         {MaxPathLen, "a file path", "file paths", true, true},
	kindPassword:     {MaxMailPasswordLen, "a password", "passwords", true, false},
	kindMailbox:      {MaxMailboxLen, "a mailbox name", "mailbox names", true, true},
	kindMessageID:    {MaxMessageIDLen, "a Message-ID", "Message-IDs", true, true},
	kindBody:         {MaxMailBodyLen, "a message text", "message texts", false, false},
	kindURI:          {MaxURILen, "a URI", "URIs", true, true},
	kindAddress:      {MaxAddressLen, "an address", "addresses", true, true},
	// Web callbacks count characters (callback.go); in bytes of UTF-8 at
	// most four times as many.
	kindCustomerName: {4 * MaxCustomerNameRunes, "a customer name", "customer names", true, true},
	kindCallbackText: {4 * MaxCallbackDescRunes, "a description", "descriptions", true, true},
	kindContactData:  {4 * MaxContactDataRunes, "a string", "strings", true, true},
	// Chat texts: names and captions have no limit of their own (web.md)
	// beyond the engine's bound of free texts; messages allow line feeds
	// and tabs (CheckChatText makes the rest of the text rule).
	kindChatText: {4 * MaxChatMessageRunes, "a message", "messages", false, true},
	// Edge data is opaque to the engine (IncomingRequest.Edge).
	kindEdge: {MaxEdgeLen, "edge data", "edge data", false, false},
}

// check checks v, a value of field, against the kind. An empty value
// passes: whether a field is required is the caller's rule.
func (k textKind) check(field, v string) error {
	d := textKinds[k]
	if len(v) > d.max {
		return fieldErr(field, "too long: %d bytes, at most %d", len(v), d.max)
	}
	if v == "" {
		return nil
	}
	switch k {
	case kindID:
		return checkID(field, v)
	case kindExtension:
		if !extRE.MatchString(v) {
			return fieldErr(field, "%q is not an extension number (2-15 digits)", v)
		}
		return nil
	case kindBody:
		// A message's text has lines and tabs; only NUL and invalid
		// UTF-8 are refused.
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return fieldErr(field, "want UTF-8 text without NUL")
		}
		return nil
	case kindChatText:
		if ce := CheckChatText(v); ce != nil {
			return fieldErr(field, "%s", ce.Msg)
		}
		return nil
	}
	if msg := textFault(v); msg != "" {
		return fieldErr(field, "%s", msg)
	}
	return nil
}

// checkText bounds a name or free text and applies their rule
// (textFault).
func checkText(field, v string, max int) error {
	if len(v) > max {
		return fieldErr(field, "too long: %d bytes, at most %d", len(v), max)
	}
	if msg := textFault(v); msg != "" {
		return fieldErr(field, "%s", msg)
	}
	return nil
}

// textFault says what a name or free text may not hold and s does: a
// control character (C0, DEL, C1: no tab or newline either), a
// bidirectional override or isolate (U+202A-U+202E, U+2066-U+2069, which
// can make a name read as another), or bytes that are not UTF-8. "" when
// s is clean. The message names the character and where it is, never the
// text.
func textFault(s string) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return fmt.Sprintf("contains control character U+%04X at byte %d", c, i)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Sprintf("is not valid UTF-8 (byte %d)", i)
		case r >= 0x80 && r <= 0x9f:
			return fmt.Sprintf("contains control character U+%04X at byte %d", r, i)
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return fmt.Sprintf("contains bidirectional control U+%04X at byte %d", r, i)
		}
		i += size
	}
	return ""
}

// textFields names the kind of every text field of the configuration
// document and of the command payloads, by struct type and JSON name: a
// string field has the kind, a list of strings its elements, a map its
// keys. TestTextFieldsComplete holds it to the types: a text field added
// without a kind (and so without a documented limit) fails it.
var textFields = map[reflect.Type]map[string]textKind{
	// The configuration document.
	reflect.TypeFor[BusinessUnit](): {"id": kindID, "name": kindName},
	reflect.TypeFor[User](): {"id": kindID, "name": kindName, "extension": kindExtension, "business_unit": kindID,
		"email": kindEmail, "first_name": kindName, "last_name": kindName, "company": kindName, "mobile": kindNumber,
		"call_category": kindID, "forwarding_category": kindKeyword, "web_phone_mode": kindKeyword,
		"monitored_mailboxes": kindExtension, "password_hash": kindPasswordHash},
	reflect.TypeFor[SpeedDial]():            {"label": kindLabel, "label2": kindLabel, "number": kindNumber, "colour": kindKeyword},
	reflect.TypeFor[DirectorySearchField](): {"field": kindKeyword, "label": kindLabel, "default": kindName},
	reflect.TypeFor[Extension]():            {"number": kindExtension},
	reflect.TypeFor[Phone]():                {"id": kindID, "kind": kindKeyword, "category": kindID, "password": kindSecret},
	reflect.TypeFor[Queue]():                {"id": kindID, "name": kindName, "business_unit": kindID, "strategy": kindKeyword, "skills": kindID},
	reflect.TypeFor[Agent]():                {"id": kindID, "name": kindName, "user": kindID, "extension": kindExtension, "queues": kindID, "skills": kindID},
	reflect.TypeFor[PauseReason]():          {"code": kindID, "name": kindName},
	reflect.TypeFor[Contact](): {"id": kindID, "first_name": kindName, "last_name": kindName, "company": kindName,
		"extension": kindNumber, "mobile": kindNumber, "phone": kindNumber},
	reflect.TypeFor[Document]():    {"excluded_numbers": kindNumber},
	reflect.TypeFor[Mail]():        {"ca_file": kindPath, "blocked_senders": kindEmail},
	reflect.TypeFor[MailIMAP]():    {"host": kindHost, "tls": kindKeyword, "user": kindEmail, "password": kindPassword, "mailbox": kindMailbox},
	reflect.TypeFor[MailSMTP]():    {"host": kindHost, "tls": kindKeyword, "user": kindEmail, "password": kindPassword},
	reflect.TypeFor[MailAlias]():   {"address": kindEmail, "business_unit": kindID, "queue": kindID},
	reflect.TypeFor[MailVerdict](): {"header": kindName, "value": kindName, "reason": kindKeyword},
	reflect.TypeFor[Settings](): {"outside_line_prefix": kindKeyword, "default_country_code": kindKeyword,
		"default_area_code": kindKeyword, "directory_fields": kindKeyword, "maintenance_time": kindKeyword,
		"sip_servers": kindAddress},

	// Command payloads.
	reflect.TypeFor[AgentRequest]():         {"agent": kindID},
	reflect.TypeFor[PauseRequest]():         {"agent": kindID, "reason": kindID},
	reflect.TypeFor[CloseRequest]():         {"agent": kindID},
	reflect.TypeFor[ReportProblemRequest](): {"agent": kindID, "call": kindID, "report": kindID, "description": kindDescription},
	reflect.TypeFor[IncomingRequest](): {"call": kindID, "number": kindNumber, "name": kindName, "queue": kindID,
		"agent": kindID, "extension": kindExtension, "skills": kindID, "note": kindNote, "edge": kindEdge},
	reflect.TypeFor[CallRequest]():         {"call": kindID},
	reflect.TypeFor[RemoteHangupRequest](): {"call": kindID, "side": kindKeyword},
	reflect.TypeFor[AgentCallRequest]():    {"agent": kindID},
	reflect.TypeFor[HangupRequest]():       {"agent": kindID},
	reflect.TypeFor[DialRequest]():         {"agent": kindID, "call": kindID, "number": kindNumber},
	reflect.TypeFor[RetrieveRequest]():     {"agent": kindID, "call": kindID},
	reflect.TypeFor[TransferRequest]():     {"agent": kindID, "target": kindExtension},
	reflect.TypeFor[ConsultRequest]():      {"agent": kindID, "call": kindID, "target": kindExtension},
	reflect.TypeFor[CompleteRequest]():     {"agent": kindID},
	reflect.TypeFor[ParkRequest]():         {"agent": kindID, "note": kindNote},
	reflect.TypeFor[ParkOnRequest]():       {"agent": kindID, "extension": kindExtension, "note": kindNote},
	reflect.TypeFor[ParkPickupRequest]():   {"extension": kindExtension, "by": kindNumber},
	reflect.TypeFor[CoupleRequest]():       {"agent": kindID, "call": kindID},
	reflect.TypeFor[NoteRequest]():         {"agent": kindID, "call": kindID, "note": kindNote},

	reflect.TypeFor[PhoneRegistrationRequest](): {"extension": kindExtension, "phone": kindID, "contact": kindURI},
	reflect.TypeFor[SetSecretRequest]():         {"extension": kindExtension, "phone": kindID, "secret": kindSecret},
	reflect.TypeFor[PhoneOrderRequest]():        {"extension": kindExtension, "phone": kindID},
	reflect.TypeFor[PhoneRingingRequest]():      {"extension": kindExtension, "phone": kindID},

	reflect.TypeFor[PresenceRequest]():    {"user": kindID, "presence": kindKeyword},
	reflect.TypeFor[ForwardingRequest]():  {"user": kindID},
	reflect.TypeFor[PreferencesRequest](): {"user": kindID},
	reflect.TypeFor[Preferences](): {"language": kindKeyword, "time_format": kindKeyword, "on_incoming": kindKeyword,
		"text_size": kindKeyword, "hidden_columns": kindKeyword},
	reflect.TypeFor[Shortcut]():        {"state": kindKeyword, "key": kindKeyword, "action": kindKeyword},
	reflect.TypeFor[ForwardRule]():     {"number": kindNumber},
	reflect.TypeFor[CalendarForward](): {"id": kindID, "from": kindKeyword, "to": kindKeyword},

	reflect.TypeFor[VoicemailDepositRequest](): {"mailbox": kindExtension, "message": kindID, "from": kindNumber, "name": kindName, "codec": kindKeyword},
	reflect.TypeFor[VoicemailMarkRequest]():    {"mailbox": kindExtension, "message": kindID, "user": kindID, "folder": kindKeyword},
	reflect.TypeFor[VoicemailDeleteRequest]():  {"mailbox": kindExtension, "message": kindID, "user": kindID},
	reflect.TypeFor[VoicemailPINRequest]():     {"user": kindID, "pin_hash": kindPasswordHash},
	reflect.TypeFor[VoicemailMonitorRequest](): {"user": kindID, "mailbox": kindExtension},

	reflect.TypeFor[CallbackCreateRequest](): {"callback": kindID, "queue": kindID, "customer_name": kindCustomerName,
		"phone": kindNumber, "description": kindCallbackText},
	reflect.TypeFor[CallbackDatum]():         {"key": kindContactData, "value": kindContactData},
	reflect.TypeFor[CallbackCancelRequest](): {"callback": kindID},
	reflect.TypeFor[CallbackSettings]():      {"time_zone": kindKeyword, "holidays": kindKeyword, "queues": kindID},
	reflect.TypeFor[ChatCreateRequest](): {"session": kindID, "language": kindKeyword, "chat_language": kindKeyword,
		"customer_name": kindDescription, "source": kindDescription, "destination": kindDescription, "caption": kindDescription,
		"business_unit": kindID},
	reflect.TypeFor[ChatMessageRequest]():    {"session": kindID, "from": kindKeyword, "agent": kindID, "text": kindChatText},
	reflect.TypeFor[ChatEndRequest]():        {"session": kindID, "by": kindKeyword, "agent": kindID},
	reflect.TypeFor[ChatTranscriptRequest](): {"session": kindID, "reply": kindID, "to": kindEmail},
	reflect.TypeFor[ChatSettings]():          {"languages": kindKeyword, "queue": kindID},
	reflect.TypeFor[WeeklyHours](): {"monday": kindKeyword, "tuesday": kindKeyword, "wednesday": kindKeyword,
		"thursday": kindKeyword, "friday": kindKeyword, "saturday": kindKeyword, "sunday": kindKeyword},

	reflect.TypeFor[MailReceivedRequest](): {"message_id": kindMessageID, "from": kindEmail, "from_name": kindName,
		"to": kindEmail, "subject": kindNote, "thread": kindMessageID, "skip": kindKeyword},
	reflect.TypeFor[MailReplyRequest]():   {"reply": kindID, "contact": kindID, "agent": kindID, "subject": kindNote, "body": kindBody, "forward": kindEmail},
	reflect.TypeFor[MailReportRequest]():  {"reply": kindID, "to": kindEmail, "on_behalf_of": kindEmail, "subject": kindNote, "body": kindBody},
	reflect.TypeFor[MailSendingRequest](): {"reply": kindID},
	reflect.TypeFor[MailSentRequest]():    {"reply": kindID, "error": kindNote},
}

// checkTexts checks every text field of v (a document or a payload,
// through pointers, lists, maps and nested structs) against its kind,
// in field order (map keys sorted), and returns the first fault naming
// its path ("agents[0].name").
func checkTexts(v any) error {
	switch p := v.(type) { // the mail channel's hot path (mailfast.go)
	case *MailReceivedRequest:
		return p.checkTextsAt("")
	case *MailReceivedBatchRequest:
		return p.checkTextsAt("")
	}
	return walkTexts(reflect.ValueOf(v), "", kindNone)
}

var timeType = reflect.TypeFor[time.Time]()

func walkTexts(v reflect.Value, path string, kind textKind) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return walkTexts(v.Elem(), path, kind)
	case reflect.String:
		return kind.check(path, v.String())
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // bytes (a recording), not texts
		}
		for i := 0; i < v.Len(); i++ {
			if err := walkTexts(v.Index(i), jsonin.Index(path, i), kind); err != nil {
				return err
			}
		}
	case reflect.Map:
		keys := v.MapKeys()
		if v.Type().Key().Kind() == reflect.String {
			sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		}
		for _, k := range keys {
			if k.Kind() == reflect.String {
				if err := kind.check(path, k.String()); err != nil {
					return err
				}
			}
			if err := walkTexts(v.MapIndex(k), path+"."+clip(fmt.Sprint(k.Interface())), kindNone); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		if t == timeType {
			return nil
		}
		kinds := textFields[t]
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name := jsonName(sf)
			if sf.Anonymous && name == "" {
				if err := walkTexts(v.Field(i), path, kindNone); err != nil {
					return err
				}
				continue
			}
			if name == "-" {
				continue
			}
			if err := walkTexts(v.Field(i), jsonin.Join(path, name), kinds[name]); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonName is a struct field's name in JSON ("" for an embedded struct
// without one).
func jsonName(sf reflect.StructField) string {
	tag := sf.Tag.Get("json")
	for i := 0; i < len(tag); i++ {
		if tag[i] == ',' {
			tag = tag[:i]
			break
		}
	}
	if tag == "" && !sf.Anonymous {
		return sf.Name
	}
	return tag
}

// clip is at most 32 runes of s for an error message (jsonin.Clip).
func clip(s string) string { return jsonin.Clip(s) }
