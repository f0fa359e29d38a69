package access

import (
	"errors"
	"fmt"
)

// Action is what a session asks to do, with SRS's hook names.
type Action string

const (
	Connect   Action = "on_connect"
	Publish   Action = "on_publish"
	Unpublish Action = "on_unpublish"
	Play      Action = "on_play"
	Stop      Action = "on_stop"
)

// Request describes a session to a hook or a signature check. Param is the
// raw query string of the stream (or of tcUrl for a connect), without "?".
type Request struct {
	Action   Action
	ClientID string
	IP       string
	Vhost    string
	App      string
	Stream   string
	Param    string
	TcURL    string
	PageURL  string
}

// Reasons a session is refused; they label the refusal counter.
const (
	ReasonUnsigned   = "unsigned"
	ReasonBadSign    = "bad_signature"
	ReasonExpired    = "expired"
	ReasonHookDenied = "hook_denied"
	ReasonHookFailed = "hook_failed"
)

// Denied is a refusal: Reason is one of the Reason constants, Detail is
// short text fit for the client and the log.
type Denied struct {
	Reason string
	Detail string
}

func (d *Denied) Error() string { return fmt.Sprintf("access denied (%s): %s", d.Reason, d.Detail) }

func deny(reason, format string, args ...any) *Denied {
	return &Denied{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// IsDenied reports whether err is a refusal and returns it.
func IsDenied(err error) (*Denied, bool) {
	var d *Denied
	ok := errors.As(err, &d)
	return d, ok
}
