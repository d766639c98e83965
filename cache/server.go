package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults used for zero Server fields.
const (
	// DefaultAddr is memcached's port on every interface.
	DefaultAddr = ":11211"
	// DefaultMaxConns bounds the open client connections.
	DefaultMaxConns = 4096
	// DefaultVersion is what "version" answers: the memcached protocol
	// level this server speaks, marked as pixpool.
	DefaultVersion = "1.6.18-pixpool"
	// DefaultIdleTimeout closes connections idle for that long.
	DefaultIdleTimeout = 5 * time.Minute
)

// ErrServerClosed is returned by Serve and ListenAndServe after Close or
// Shutdown.
var ErrServerClosed = errors.New("cache: server closed")

// Server serves a Store over the memcached text protocol. Set the fields
// before the first Serve; they must not change afterwards. A Server must
// not be copied after first use.
type Server struct {
	// Addr is the TCP address ListenAndServe listens on. If empty,
	// DefaultAddr (":11211"); ":0" picks a free port.
	Addr string
	// Store holds the items. If nil, Serve creates NewStore(StoreConfig{}):
	// 64 MiB, LRU.
	Store *Store
	// MaxConns bounds the open client connections; past it a new connection
	// is told "ERROR Too many open connections" and closed, as memcached
	// does. If zero, DefaultMaxConns (4096).
	MaxConns int
	// IdleTimeout closes a connection that sends nothing, or takes none of
	// its answers, for that long (a stalled upload or a client that stopped
	// reading). If zero, DefaultIdleTimeout (5 minutes); if negative,
	// connections may idle forever (memcached's default).
	IdleTimeout time.Duration
	// Credentials, if not empty, make every connection authenticate before
	// anything else, as memcached -Y does: its first command must be
	// "set <any key> <flags> <exptime> <n>" with the n-byte data block
	// "<user> <password>", answered STORED; any other command before that
	// is answered "CLIENT_ERROR unauthenticated" and not run.
	// ReadAuthFile reads memcached's file of them.
	Credentials []Credential
	// MaxCapacity bounds the capacity cache_memlimit may set, in bytes. If
	// zero, MachineMemory() (unbounded where that is unknown).
	MaxCapacity int64
	// Version is reported by "version" and "stats". If empty, DefaultVersion.
	Version string
	// Logger receives accept errors and recovered panics. If nil,
	// slog.Default().
	Logger *slog.Logger

	mu        sync.Mutex // guards listeners, conns, closed, started, port, maxCap
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool
	started   time.Time
	port      int
	maxCap    int64 // MaxCapacity or the machine's memory; 0 is unbounded

	inShutdown    atomic.Bool
	currConns     atomic.Int64
	totalConns    atomic.Uint64
	rejectedConns atomic.Uint64
	// bytesRead and bytesWritten total the closed connections; open ones
	// keep their own counts, summed by stats.
	bytesRead    atomic.Uint64
	bytesWritten atomic.Uint64
	verbosity    atomic.Uint32
	authCmds     atomic.Uint64
	authErrors   atomic.Uint64
}

// ListenAndServe listens on s.Addr and serves until Close or Shutdown.
func (s *Server) ListenAndServe() error {
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cache: listen: %w", err)
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln and serves each in its own goroutine. It
// returns ErrServerClosed after Close or Shutdown, or the listener's error.
// Serve closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	if !s.trackListener(ln, true) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.trackListener(ln, false)
	defer ln.Close()
	maxConns := int64(s.MaxConns)
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				// Out of file descriptors and the like: wait, retry.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logger().Warn("cache: accept", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("cache: accept: %w", err)
		}
		delay = 0
		s.totalConns.Add(1)
		if s.currConns.Load() >= maxConns {
			s.rejectedConns.Add(1)
			nc.SetWriteDeadline(time.Now().Add(time.Second))
			nc.Write([]byte("ERROR Too many open connections\r\n"))
			nc.Close()
			continue
		}
		c := newConn(s, nc)
		if !s.trackConn(c, true) {
			nc.Close()
			return ErrServerClosed
		}
		go c.serve()
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	s.closed = true
	err := s.closeListenersLocked()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	return err
}

// Shutdown stops accepting, closes idle connections, lets each busy one
// finish the command it is serving, and returns when all are closed. If ctx
// ends first, it closes the rest and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	s.closed = true
	err := s.closeListenersLocked()
	s.mu.Unlock()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if s.closeIdle() {
			return err
		}
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// closeIdle closes the connections waiting for a command and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.nc.Close()
		}
	}
	return len(s.conns) == 0
}

func (s *Server) closeListenersLocked() error {
	var err error
	for ln := range s.listeners {
		if e := ln.Close(); e != nil && err == nil && !errors.Is(e, net.ErrClosed) {
			err = e
		}
	}
	return err
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// trackListener adds or removes ln; adding reports false after Close.
func (s *Server) trackListener(ln net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, ln)
		return true
	}
	if s.closed {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
		s.started = time.Now()
		s.maxCap = s.MaxCapacity
		if s.maxCap == 0 {
			s.maxCap = MachineMemory()
		}
	}
	if s.Store == nil {
		s.Store = NewStore(StoreConfig{})
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && s.port == 0 {
		s.port = a.Port
	}
	s.listeners[ln] = struct{}{}
	return true
}

// trackConn adds or removes c; adding reports false after Close.
func (s *Server) trackConn(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closed {
			return false
		}
		s.conns[c] = struct{}{}
		s.currConns.Add(1)
		return true
	}
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.currConns.Add(-1)
		s.bytesRead.Add(c.rd.n.Load())
		s.bytesWritten.Add(c.wr.n.Load())
	}
	return true
}

// ioTotals returns the bytes read and written by all connections so far.
func (s *Server) ioTotals() (read, written uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	read, written = s.bytesRead.Load(), s.bytesWritten.Load()
	for c := range s.conns {
		read += c.rd.n.Load()
		written += c.wr.n.Load()
	}
	return read, written
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) idleTimeout() time.Duration {
	switch {
	case s.IdleTimeout < 0:
		return 0
	case s.IdleTimeout == 0:
		return DefaultIdleTimeout
	}
	return s.IdleTimeout
}

func (s *Server) version() string {
	if s.Version != "" {
		return s.Version
	}
	return DefaultVersion
}

// Connection states, for Shutdown: only an idle connection (blocked before
// the first byte of its next command) may be closed under a client's feet.
const (
	stateActive int32 = iota
	stateIdle
	stateClosed
)

// conn is one client connection, served by one goroutine.
type conn struct {
	srv   *Server
	st    *Store
	nc    net.Conn
	rd    reader
	wr    writer
	state atomic.Int32
	// authed is set once the connection has authenticated, or from the
	// start when the server asks for no credentials.
	authed bool
	toks   [][]byte // reused by tokenize
	crlf   [2]byte
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, st: s.Store, nc: nc, authed: len(s.Credentials) == 0}
	raw := newRawIO(nc)
	c.rd.nc = nc
	c.rd.raw = raw
	c.wr.raw = raw
	c.rd.buf = make([]byte, readBufSize)
	c.rd.out = &c.wr
	c.rd.timeout = s.idleTimeout()
	c.wr.nc = nc
	c.wr.buf = make([]byte, 0, writeBufSize)
	c.wr.timeout = s.idleTimeout()
	return c
}

func (c *conn) serve() {
	defer func() {
		if r := recover(); r != nil {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.logger().Error("cache: panic serving connection", "remote", c.nc.RemoteAddr().String(), "panic", r, "stack", string(buf))
		}
		c.state.Store(stateClosed)
		c.nc.Close()
		c.srv.trackConn(c, false)
	}()
	first := true
	for {
		if c.rd.buffered() == 0 {
			// Nothing more is pipelined: send what the commands so far
			// answered, then wait for the next command.
			if c.wr.flush() != nil || c.srv.inShutdown.Load() {
				return
			}
			c.rd.shrink()
			if !c.state.CompareAndSwap(stateActive, stateIdle) {
				return
			}
			err := c.rd.fill()
			if !c.state.CompareAndSwap(stateIdle, stateActive) || err != nil {
				return
			}
		}
		if first {
			first = false
			if c.rd.buf[c.rd.r] == 0x80 {
				// A binary protocol request: not spoken here.
				return
			}
		}
		line, err := c.rd.readLine()
		if err != nil {
			// Includes a command line too long: memcached closes too.
			return
		}
		if !c.dispatch(line) {
			c.wr.flush()
			return
		}
	}
}
