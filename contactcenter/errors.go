package contactcenter

import (
	"errors"
	"fmt"
)

// ErrUnknownCommand refuses a command type the engine does not know.
var ErrUnknownCommand = errors.New("unknown command type")

// FieldError refuses an input because of one named field. Field is a path
// into the document, e.g. "agents[2].queues[0]".
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Msg) }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// FieldName names the refused field; the cluster layer reports it to the
// client beside the message.
func (e *FieldError) FieldName() string { return e.Field }
