package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an error with an HTTP status. Handlers return it (or wrap it)
// when the default, 500, is wrong. The message becomes the status line's
// reason phrase, which Proxmox VE clients match on.
type Error struct {
	Status  int
	Message string
	// Errors maps parameter names to problems (400 responses).
	Errors map[string]string
}

func (e *Error) Error() string { return e.Message }

// Errorf makes an error with a status.
func Errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// ParamError reports a problem with one parameter as a 400, the way
// schema validation does.
func ParamError(param, format string, args ...any) error {
	return &Error{
		Status:  http.StatusBadRequest,
		Message: ParamVerificationFailed,
		Errors:  map[string]string{param: fmt.Sprintf(format, args...)},
	}
}

// ParamVerificationFailed is the message of every 400 with parameter errors.
const ParamVerificationFailed = "Parameter verification failed."

// ErrAuthFailed is returned by a failed login; the server answers 401
// after a delay, without saying what was wrong.
var ErrAuthFailed = &Error{Status: http.StatusUnauthorized, Message: "authentication failure"}

// StatusOf maps an error to its HTTP status.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	var d *Denied
	if errors.As(err, &d) {
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// Paged is a list result with the total number of items before paging;
// the server sends the total next to the data, as Proxmox VE does.
type Paged[T any] struct {
	Items []T
	Total int
}

// PagedData lets the server unpack a Paged result of any item type.
func (p Paged[T]) PagedData() (any, int) {
	if p.Items == nil {
		return []T{}, p.Total
	}
	return p.Items, p.Total
}

// NotFound reports a missing object. Proxmox VE answers such calls with
// a plain 500 carrying the message, and clients rely on the message, so
// the status follows it.
func NotFound(format string, args ...any) error {
	return &Error{Status: http.StatusInternalServerError, Message: fmt.Sprintf(format, args...)}
}
