package http

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/manager"
)

// codes maps error codes to HTTP statuses. It is the only such map.
var codes = map[string]int{
	pixpool.ECONFLICT:     http.StatusConflict,
	pixpool.EINVALID:      http.StatusBadRequest,
	pixpool.ENOTFOUND:     http.StatusNotFound,
	pixpool.EUNAUTHORIZED: http.StatusUnauthorized,
	pixpool.EFORBIDDEN:    http.StatusForbidden,
	pixpool.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	pixpool.ETOOMANY:      http.StatusTooManyRequests,
	pixpool.EUNAVAILABLE:  http.StatusServiceUnavailable,
	pixpool.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	pixpool.ESTORAGEFULL:  http.StatusInsufficientStorage,
	// A quota is the user's share of storage being full: 507, as WebDAV
	// quotas answer (RFC 4331, 5.2), not 413, which says that the request
	// itself is too large whatever the server holds.
	pixpool.EQUOTA:    http.StatusInsufficientStorage,
	pixpool.EINTERNAL: http.StatusInternalServerError,
}

// ErrorStatus returns the HTTP status for err's code.
func ErrorStatus(err error) int {
	if s, ok := codes[pixpool.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// pageErrorStatus is the status of a portal page that shows err as its
// error. It is ErrorStatus's, but for an action on a cache pool that is
// off (manager.ErrNoPool): where the APIs answer 503 (a part of the
// server is missing), a page answers 400, as there is nothing to change.
func pageErrorStatus(err error) int {
	if errors.Is(err, manager.ErrNoPool) {
		return http.StatusBadRequest
	}
	return ErrorStatus(err)
}

// logError logs internal errors with their cause; user errors are the
// client's business and only logged at debug level.
func (s *Server) logError(r *http.Request, err error) {
	if pixpool.ErrorCode(err) == pixpool.EINTERNAL {
		s.logger().Error("request failed", "method", r.Method, "path", redactSharePath(r.URL.Path), "err", err)
	} else {
		s.logger().Debug("request refused", "method", r.Method, "path", redactSharePath(r.URL.Path), "err", err)
	}
}

// errInterrupted answers a request whose body was cut off or stalled.
var errInterrupted = pixpool.Errorf(pixpool.EINVALID, "The upload was interrupted.")

// interrupted turns an internal error of a request whose context is
// cancelled into errInterrupted: net/http cancels the context when
// reading the body fails (the client went away, or its body stalled for
// the idle timeout, see limitIdleBodies), and what failed next (the store
// refusing a cancelled context) is then the client's doing, not a fault
// of the server's.
func interrupted(r *http.Request, err error) error {
	if pixpool.ErrorCode(err) != pixpool.EINTERNAL || r.Context().Err() == nil {
		return err
	}
	if r.Body == nil || r.Body == http.NoBody {
		return pixpool.Errorf(pixpool.EINVALID, "The request was interrupted.")
	}
	return errInterrupted
}

// Error writes err as the JSON error of /api/v1:
// {"error":{"code":"...","message":"..."}}.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	err = interrupted(r, err)
	s.logError(r, err)
	code := pixpool.ErrorCode(err)
	writeJSON(w, ErrorStatus(err), map[string]any{
		"error": map[string]string{"code": code, "message": pixpool.ErrorMessage(err)},
	})
}

// retryAfter is the Retry-After, in seconds, of a 503: about the time the
// work that filled the server (such as the images being decoded) takes.
const retryAfter = "5"

// setRetryAfter tells a client refused with 503 when to try again.
func setRetryAfter(h http.Header, status int) {
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfter)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	setRetryAfter(w.Header(), status)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Debug("write json", "err", err)
	}
}

func (s *Server) handleAPINotFound(w http.ResponseWriter, r *http.Request) {
	s.Error(w, r, pixpool.Errorf(pixpool.ENOTFOUND, "No such API route: %s %s.", r.Method, r.URL.Path))
}
