package cache

import (
	"net"
	"testing"
	"time"
)

// loopConn serves one request over and over and discards the answers, to
// measure a command's cost without a network.
type loopConn struct {
	net.Conn
	req []byte
	off int
}

func (l *loopConn) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], l.req[l.off:])
		n += m
		l.off = (l.off + m) % len(l.req)
	}
	return n, nil
}

func (l *loopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (l *loopConn) SetReadDeadline(time.Time) error  { return nil }
func (l *loopConn) SetWriteDeadline(time.Time) error { return nil }

func TestConn_Allocs(t *testing.T) {
	// The hot paths allocate nothing but what is stored: a set keeps its key
	// and value; everything else is parsed and answered in place.
	st := NewStore(StoreConfig{})
	st.Set(Item{Key: "key1", Value: make([]byte, 1<<10)})
	st.Set(Item{Key: "key2", Value: make([]byte, 100<<10)})
	tests := []struct {
		req  string
		want float64
	}{
		{"get key1\r\n", 0},
		{"gets key2\r\n", 0},
		{"get key1 key2 nokey\r\n", 0},
		{"gat 0 key1\r\n", 0},
		{"touch key1 0\r\n", 0},
		{"delete nokey\r\n", 0},
		{"incr nokey 1\r\n", 0},
		{"bogus\r\n", 0},
		{"set key3 0 0 5\r\nhello\r\n", 2},
	}
	for _, tt := range tests {
		c := newConn(&Server{Store: st}, &loopConn{req: []byte(tt.req)})
		got := testing.AllocsPerRun(200, func() {
			if c.rd.buffered() == 0 {
				c.wr.flush()
				c.rd.fill()
			}
			line, _ := c.rd.readLine()
			c.dispatch(line)
		})
		if got > tt.want {
			t.Errorf("%q: %.1f allocations per command, want %.0f", tt.req, got, tt.want)
		}
	}
}
