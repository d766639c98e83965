package pixpool

import (
	"errors"
	"fmt"
)

// Error codes. They say what went wrong in terms a client can act on; only
// http/error.go maps them to HTTP statuses.
const (
	ECONFLICT     = "conflict"       // the thing already exists
	EINTERNAL     = "internal"       // anything the client cannot fix
	EINVALID      = "invalid"        // bad input
	ENOTFOUND     = "not_found"      // no such thing (or not yours)
	EUNAUTHORIZED = "unauthorized"   // not logged in, or bad credentials
	EFORBIDDEN    = "forbidden"      // logged in but not allowed
	ETOOLARGE     = "too_large"      // the body is over the size limit
	ETOOMANY      = "too_many"       // throttled; try again later
	EUNAVAILABLE  = "unavailable"    // a dependency is down or not installed
	EUNSUPPORTED  = "unsupported"    // a media type we do not take
	ESTORAGEFULL  = "storage_full"   // the disk or database has no room left
	EQUOTA        = "quota_exceeded" // the user's quota has no room for this
)

// Error is an error meant for the user: its Message is safe to show.
// Every other error is internal and shows as "internal error".
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("pixpool error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// StorageFull returns err, which says that a disk, quota or database is
// full, as an ESTORAGEFULL error; the chain keeps err for the log.
func StorageFull(err error) error {
	return fmt.Errorf("%w: %w", Errorf(ESTORAGEFULL, "Storage is full: delete images to free space, or ask the administrator for more."), err)
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil
// and EINTERNAL for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the Message of the
// first *Error in its chain, or "internal error".
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
