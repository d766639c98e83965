package http

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// DefaultBodyIdleTimeout is how long a request body may send nothing at
// all before its connection is closed, when Server.BodyIdleTimeout is zero.
const DefaultBodyIdleTimeout = 30 * time.Second

func (s *Server) bodyIdleTimeout() time.Duration {
	if s.BodyIdleTimeout > 0 {
		return s.BodyIdleTimeout
	}
	return DefaultBodyIdleTimeout
}

// limitIdleBodies closes the connection of a request whose body makes no
// progress for the idle timeout. It bounds idleness, not the whole
// transfer: a large upload over a slow link may take as long as it needs
// as long as bytes keep coming, while a client that sends a few bytes of a
// large body and stalls no longer holds its connection (and the handler
// waiting on it) open for ever.
//
// A handler that answers without reading the body (a 401, a 404, a GET
// with a body) is covered too. Left alone, net/http reads up to 256 KiB of
// an unread body, with no deadline, before it writes the response, so that
// it can reuse the connection; a client that stalls then holds the
// connection and never gets its answer. Here such a response says
// "Connection: close" instead, so it goes out at once, and what net/http
// still reads of the body after the handler (to close the connection
// cleanly) has a deadline idle ahead.
func (s *Server) limitIdleBodies(next http.Handler) http.Handler {
	idle := s.bodyIdleTimeout()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		b := &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: idle}
		if r.ProtoMajor == 1 {
			// Until the body has been read to its end: HTTP/2 has no
			// such header (it would close the whole connection), and
			// no need, since it does not read an unread body.
			b.header = w.Header()
			b.header.Set("Connection", "close")
		}
		b.arm()
		r.Body = b
		next.ServeHTTP(w, r)
		if !b.eof.Load() && !b.failed.Load() {
			// After a failed Read (it timed out, or the client left) the
			// deadline is already past: net/http gives up on the body
			// at once.
			b.arm()
		}
	})
}

// idleBody moves the connection's read deadline idle ahead of every Read,
// so each Read may wait at most idle for the next bytes. At the body's
// end the server clears the deadline (it sets one of its own for the next
// request's header) and idleBody takes back the "Connection: close" that
// limitIdleBodies set, so the connection can be reused.
type idleBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	idle   time.Duration
	header http.Header // the response's, for Connection; nil under HTTP/2
	off    bool        // the connection has no deadlines (a test's recorder)
	eof    atomic.Bool // the body has been read to its end
	failed atomic.Bool // a Read failed otherwise
}

// arm sets the connection's read deadline idle from now.
func (b *idleBody) arm() {
	if b.off {
		return
	}
	if err := b.rc.SetReadDeadline(time.Now().Add(b.idle)); err != nil {
		b.off = true
	}
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.arm()
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		if !b.eof.Swap(true) && b.header != nil {
			b.header.Del("Connection")
		}
	case err != nil:
		b.failed.Store(true)
	}
	return n, err
}
