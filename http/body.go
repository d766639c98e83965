package http

import (
	"io"
	"net/http"
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
func (s *Server) limitIdleBodies(next http.Handler) http.Handler {
	idle := s.bodyIdleTimeout()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: idle}
		}
		next.ServeHTTP(w, r)
	})
}

// idleBody moves the connection's read deadline idle ahead of every Read,
// so each Read may wait at most idle for the next bytes. The server sets a
// deadline of its own for the next request's header, and clears ours once
// the body has been read to its end.
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	off  bool // the connection has no deadlines (a test's recorder)
}

func (b *idleBody) Read(p []byte) (int, error) {
	if !b.off {
		if err := b.rc.SetReadDeadline(time.Now().Add(b.idle)); err != nil {
			b.off = true
		}
	}
	return b.ReadCloser.Read(p)
}
