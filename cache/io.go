package cache

import (
	"bytes"
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// Buffer sizes and line limits of a connection.
const (
	readBufSize  = 16 << 10
	writeBufSize = 16 << 10
	// maxLine is the longest command line memcached takes without its
	// newline; longer ones close the connection. get/gets/gat/gats lines
	// (many keys) may grow to maxGetLine: about 1000 keys of the longest
	// kind. memcached has no such bound; ours keeps a connection's buffer,
	// and so the memory of MaxConns connections, bounded.
	maxLine    = 2048
	maxGetLine = 256 << 10
	// largeValue is the size from which a value is written from the stored
	// slice (writev) instead of being copied into the write buffer.
	largeValue = 4 << 10
	// flushAt bounds the write buffer and pending values between flushes.
	flushAt     = 64 << 10
	maxSegments = 256
	// valueChunk is the most a value's buffer holds ahead of the bytes
	// that have arrived: the first allocation of a value being stored,
	// which then doubles as it fills (see readValue).
	valueChunk = 128 << 10
)

var errLineTooLong = errors.New("cache: command line too long")

// deadline spares a connection a deadline update (a runtime timer change)
// on every read and write: it is moved only once an eighth of the timeout
// has passed, to 9/8 of the timeout ahead, so an idle connection is closed
// after between 1 and 1.125 times the timeout.
type deadline struct {
	at time.Time
}

// due reports whether the deadline must move, and moves it.
func (d *deadline) due(timeout time.Duration) bool {
	now := time.Now()
	if d.at.Sub(now) > timeout {
		return false
	}
	d.at = now.Add(timeout + timeout/8)
	return true
}

// reader is a connection's read buffer. Unlike bufio.Reader it can tell how
// long an unterminated line is (to refuse over-long ones early, as memcached
// does) and read a value straight into its destination.
type reader struct {
	nc  net.Conn
	raw *rawIO // if not nil, does the reads
	// out, if set, is flushed before every read from the connection, so
	// the answers to the complete commands received so far never wait
	// behind the rest of a pipeline that has yet to arrive.
	out     *writer
	buf     []byte
	r, w    int           // buf[r:w] is buffered input
	timeout time.Duration // if set, each read must make progress within it
	dl      deadline
	n       atomic.Uint64 // bytes read, for stats
}

func (b *reader) read(p []byte) (int, error) {
	if b.out != nil {
		if err := b.out.flush(); err != nil {
			return 0, err
		}
	}
	if b.timeout > 0 && b.dl.due(b.timeout) {
		b.nc.SetReadDeadline(b.dl.at)
	}
	var n int
	var err error
	if b.raw != nil {
		n, err = b.raw.read(p)
	} else {
		n, err = b.nc.Read(p)
	}
	b.n.Add(uint64(n))
	return n, err
}

func (b *reader) buffered() int { return b.w - b.r }

// fill reads at least one byte more into the buffer, compacting it, or
// growing it when it is full of one unterminated line.
func (b *reader) fill() error {
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
	if b.w == len(b.buf) {
		if b.r > 0 {
			b.w = copy(b.buf, b.buf[b.r:b.w])
			b.r = 0
		} else {
			nb := make([]byte, 2*len(b.buf))
			copy(nb, b.buf[:b.w])
			b.buf = nb
		}
	}
	for {
		n, err := b.read(b.buf[b.w:])
		b.w += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// shrink drops a buffer grown by a long get line once it is empty.
func (b *reader) shrink() {
	if len(b.buf) > readBufSize && b.r == b.w {
		b.buf = make([]byte, readBufSize)
		b.r, b.w = 0, 0
	}
}

// readLine returns the next line without its "\n" or "\r\n". The line
// aliases the buffer: it is valid until the next read.
func (b *reader) readLine() ([]byte, error) {
	scanned := 0
	for {
		if i := bytes.IndexByte(b.buf[b.r+scanned:b.w], '\n'); i >= 0 {
			end := b.r + scanned + i
			line := b.buf[b.r:end]
			b.r = end + 1
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, nil
		}
		scanned = b.w - b.r
		if scanned > maxLine && (scanned > maxGetLine || !isGetLine(b.buf[b.r:b.w])) {
			return nil, errLineTooLong
		}
		if err := b.fill(); err != nil {
			return nil, err
		}
	}
}

// isGetLine reports whether an unterminated line is a retrieval command,
// the only kind memcached lets grow past maxLine.
func isGetLine(p []byte) bool {
	p = bytes.TrimLeft(p, " ")
	return bytes.HasPrefix(p, []byte("get ")) || bytes.HasPrefix(p, []byte("gets ")) ||
		bytes.HasPrefix(p, []byte("gat ")) || bytes.HasPrefix(p, []byte("gats "))
}

// readFull fills dst, from the buffer first, then straight from the
// connection for a large remainder so a big value is copied only once.
func (b *reader) readFull(dst []byte) error {
	n := copy(dst, b.buf[b.r:b.w])
	b.r += n
	dst = dst[n:]
	for len(dst) > 0 {
		if len(dst) >= len(b.buf)/2 {
			n, err := b.read(dst)
			dst = dst[n:]
			if err != nil && len(dst) > 0 {
				return err
			}
			continue
		}
		if err := b.fill(); err != nil {
			return err
		}
		n := copy(dst, b.buf[b.r:b.w])
		b.r += n
		dst = dst[n:]
	}
	return nil
}

// readValue reads an n-byte value into a new slice that grows as the bytes
// arrive: it starts at valueChunk (or what is already buffered) and
// doubles each time it fills, so a client that declares a large value and
// stalls pins at most twice what it sent plus valueChunk, not the declared
// length. Values up to valueChunk, most of them, are read in one piece.
func (b *reader) readValue(n int) ([]byte, error) {
	v := make([]byte, min(n, max(valueChunk, b.buffered())))
	if err := b.readFull(v); err != nil {
		return nil, err
	}
	for len(v) < n {
		next := make([]byte, min(n, 2*len(v)))
		m := copy(next, v)
		v = next
		if err := b.readFull(v[m:]); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// discard skips n bytes of input.
func (b *reader) discard(n int64) error {
	for {
		m := min(n, int64(b.w-b.r))
		b.r += int(m)
		n -= m
		if n == 0 {
			return nil
		}
		if err := b.fill(); err != nil {
			return err
		}
	}
}

// writer is a connection's write buffer. Small output is copied into buf;
// a large value is queued as its own segment, referencing the stored slice
// (immutable), and everything goes out in one writev on flush.
type writer struct {
	nc      net.Conn
	raw     *rawIO // if not nil, does the writes
	buf     []byte
	mark    int           // buf[mark:] is not yet queued in segs
	segs    net.Buffers   // queued output, in order, when a large value is pending
	out     net.Buffers   // scratch consumed by WriteTo
	err     error         // first write error; later writes are dropped
	timeout time.Duration // if set, a flush must complete within it
	dl      deadline
	n       atomic.Uint64 // bytes written, for stats
}

func (w *writer) str(s string) {
	w.buf = append(w.buf, s...)
	if len(w.buf) >= flushAt {
		w.flush()
	}
}

// value queues v, without copying it if it is large.
func (w *writer) value(v []byte) {
	if len(v) < largeValue {
		w.buf = append(w.buf, v...)
		if len(w.buf) >= flushAt {
			w.flush()
		}
		return
	}
	if w.mark < len(w.buf) {
		w.segs = append(w.segs, w.buf[w.mark:])
		w.mark = len(w.buf)
	}
	w.segs = append(w.segs, v)
	if len(w.segs) >= maxSegments {
		w.flush()
	}
}

// flush writes everything queued.
func (w *writer) flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.segs) == 0 && len(w.buf) == 0 {
		return nil
	}
	if w.timeout > 0 && w.dl.due(w.timeout) {
		w.nc.SetWriteDeadline(w.dl.at)
	}
	var n int64
	var err error
	switch {
	case w.raw != nil:
		if w.mark < len(w.buf) {
			w.segs = append(w.segs, w.buf[w.mark:])
		}
		n, err = w.raw.writev(w.segs)
		clear(w.segs) // drop the references to values
		w.segs = w.segs[:0]
	case len(w.segs) == 0:
		var m int
		m, err = w.nc.Write(w.buf)
		n = int64(m)
	default:
		if w.mark < len(w.buf) {
			w.segs = append(w.segs, w.buf[w.mark:])
		}
		w.out = w.segs
		n, err = w.out.WriteTo(w.nc)
		clear(w.segs) // drop the references to values
		w.segs = w.segs[:0]
		w.out = nil
	}
	w.n.Add(uint64(n))
	w.buf = w.buf[:0]
	w.mark = 0
	if cap(w.buf) > 4*flushAt {
		w.buf = make([]byte, 0, writeBufSize)
	}
	if err != nil {
		w.err = err
	}
	return err
}
