package web

import (
	"net/http"
	"strconv"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// Codes of web.md. The engine decides those it shares with this package
// (contactcenter.Code*); 1002, 1003, 1006 and 1008 belong to the browser
// side and are defined for the bundled pages.
const (
	CodeGeneral         = 1000
	CodeCannotConnect   = 1002
	CodeConnectFailed   = 1003
	CodePageNotFound    = 1006
	CodeInvalidSession  = cc.CodeInvalidSession
	CodeNoJavaScript    = 1008
	CodeBadMandatory    = cc.CodeBadMandatory
	CodeBadParameter    = cc.CodeBadParameter
	CodeInternal        = cc.CodeInternalWeb
	CodeAllocation      = 1013
	CodeDuplicate       = cc.CodeDuplicate
	CodeCallbackServer  = cc.CodeCallbackInternal
	CodeCallbackGeneral = 17025
	CodeUnknownQueue    = cc.CodeUnknownQueue
	CodeInvalidSchedule = cc.CodeInvalidSchedule
	CodeOutsideSchedule = cc.CodeOutsideSchedule
	CodeNameTooLong     = cc.CodeNameTooLong
	CodeExcludedNumber  = cc.CodeExcludedNumber
	CodeDescTooLong     = cc.CodeDescTooLong
	CodeContactDataLong = cc.CodeContactDataLong
	CodeInvalidPriority = cc.CodeInvalidPriority
	CodeScheduleExpired = cc.CodeScheduleExpired
	CodeScheduleTooFar  = cc.CodeScheduleTooFar
)

// Messages are web.md's meaning of each code: what the bundled pages
// show (translated) and what an answer says when it has nothing more
// precise.
var Messages = map[int]string{
	CodeGeneral:         "general error",
	CodeCannotConnect:   "cannot connect to the web interaction server",
	CodeConnectFailed:   "connection to the web interaction server failed",
	CodePageNotFound:    "web page not accessible",
	CodeInvalidSession:  "invalid session ID",
	CodeNoJavaScript:    "JavaScript not enabled",
	CodeBadMandatory:    "a mandatory parameter is wrong (missing or malformed)",
	CodeBadParameter:    "a parameter is wrong",
	CodeInternal:        "internal error in the web interaction server",
	CodeAllocation:      "allocation error",
	CodeDuplicate:       "duplicate callback already in the database",
	CodeCallbackServer:  "callback server cannot process the request",
	CodeCallbackGeneral: "general error",
	CodeUnknownQueue:    "the callback queue does not exist",
	CodeInvalidSchedule: "invalid callback schedule",
	CodeOutsideSchedule: "schedule outside the callback routing schedule configured for the contact center",
	CodeNameTooLong:     "customer name too long: maximum 75 characters",
	CodeExcludedNumber:  "the phone number is on the excluded-numbers list",
	CodeDescTooLong:     "callback description too long: maximum 100 characters",
	CodeContactDataLong: "contact data too long: maximum 1000 characters",
	CodeInvalidPriority: "invalid priority: must be 1 to 100",
	CodeScheduleExpired: "schedule already expired",
	CodeScheduleTooFar:  "invalid schedule start or end: a callback cannot be scheduled more than 180 days ahead",
}

// Status is the HTTP status a code is answered with by default
// (DESIGN.md's table): 400 for input the client can correct, 404 for an
// unknown queue, 409 for a rule of the contact center that refuses it,
// 500 for a failure of this server, 503 when the cluster cannot take the
// request now (retry). Some answers use another status for the same code
// (Error.Status): 1011 is also 404 (unknown callback id), 409 (a callback
// that can no longer be cancelled) and 413 (body too large); 17021 is
// also 504 (timeout) and 507 (full disk); 1000 is 404 and 405 for routes.
func Status(code int) int {
	switch code {
	case CodeBadMandatory, CodeBadParameter, CodeInvalidSchedule, CodeNameTooLong, CodeDescTooLong,
		CodeContactDataLong, CodeInvalidPriority, CodeScheduleExpired, CodeScheduleTooFar:
		return http.StatusBadRequest
	case CodeUnknownQueue, CodeInvalidSession:
		return http.StatusNotFound
	case CodeDuplicate, CodeOutsideSchedule, CodeExcludedNumber:
		return http.StatusConflict
	case CodeCallbackServer:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Error is the public API's error answer: {"code": <web.md number>,
// "message": "…", "field": "…"}.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// status overrides Status(Code) when not 0.
	status int
}

func (e *Error) Error() string { return strconv.Itoa(e.Code) + ": " + e.Message }

// HTTPStatus is the status the error is answered with.
func (e *Error) HTTPStatus() int {
	if e.status != 0 {
		return e.status
	}
	return Status(e.Code)
}

func newErr(code int, field, msg string) *Error {
	if msg == "" {
		msg = Messages[code]
	}
	return &Error{Code: code, Field: field, Message: msg}
}

func (e *Error) withStatus(s int) *Error { e.status = s; return e }
