package cache_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/pixpool/pixpool/cache"
)

// target is a server under test: ours or a real memcached.
type target struct {
	addr string
	ours bool
	srv  *cache.Server // ours only
}

// starter starts a fresh, empty target for one test.
type starter func(t testing.TB) *target

// startNode starts our server on 127.0.0.1:0 with the same settings as the
// memcached the suite compares it with (64 MB, 16 MiB items).
func startNode(t testing.TB) *target {
	return startNodeWith(t, &cache.Server{Store: cache.NewStore(cache.StoreConfig{Capacity: 64 << 20})})
}

func startNodeWith(t testing.TB, srv *cache.Server) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, cache.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return &target{addr: ln.Addr().String(), ours: true, srv: srv}
}

// memcachedPath finds the memcached binary: $MEMCACHED, then $PATH. Without
// it the comparison is skipped locally, and fails in CI (env CI set).
func memcachedPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("MEMCACHED"); p != "" {
		return p
	}
	p, err := exec.LookPath("memcached")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("memcached not installed (apt-get install memcached): %v", err)
		}
		t.Skipf("memcached not installed, skipping the comparison: %v", err)
	}
	return p
}

// startMemcached runs a real memcached as a child process with the same
// settings as startNode, killed when the test ends.
func startMemcached(t testing.TB) *target { return startMemcachedWith(t) }

// startMemcachedWith is startMemcached with more memcached arguments.
func startMemcachedWith(t testing.TB, extra ...string) *target {
	t.Helper()
	bin := memcachedPath(t)
	var lastErr error
	for range 5 {
		port := freePort(t)
		args := []string{"-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "64", "-I", "16m", "-c", "4096"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "root") // memcached refuses root without -u
		}
		args = append(args, extra...)
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start memcached: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		addr := net.JoinHostPort("127.0.0.1", port)
		if err := waitListening(addr, exited); err != nil {
			cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%v: %s", err, stderr.String())
			continue // the port was taken meanwhile: try another
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		return &target{addr: addr}
	}
	t.Fatalf("memcached did not start: %v", lastErr)
	return nil
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("memcached exited")
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newClient(tg *target) *memcache.Client {
	c := memcache.New(tg.addr)
	c.Timeout = 10 * time.Second // the race detector is slow
	c.MaxIdleConns = 16
	return c
}

// raw is a plain TCP connection for exact protocol checks.
type raw struct {
	t  testing.TB
	nc net.Conn
	r  *bufio.Reader
}

func dial(t testing.TB, tg *target) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", tg.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t: t, nc: nc, r: bufio.NewReaderSize(nc, 64<<10)}
}

func (c *raw) send(s string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("send %.40q: %v", s, err)
	}
}

// line reads one response line, with its "\r\n".
func (c *raw) line() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read response line: %v (got %q)", err, l)
	}
	return l
}

// expect reads len(want) lines and compares them exactly; each want is one
// line without "\r\n".
func (c *raw) expect(want ...string) {
	c.t.Helper()
	for _, w := range want {
		if got := c.line(); got != w+"\r\n" {
			c.t.Fatalf("got %q, want %q", got, w+"\r\n")
		}
	}
}

// do sends cmd and expects the answer lines.
func (c *raw) do(cmd string, want ...string) {
	c.t.Helper()
	c.send(cmd)
	c.expect(want...)
}

// expectClosed waits for the server to close the connection.
func (c *raw) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := c.r.ReadByte()
	if err == nil {
		rest, _ := c.r.Peek(c.r.Buffered())
		c.t.Fatalf("connection still open, got %q", string(b)+string(rest))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("connection not closed within 10s")
	}
}

// stats returns "stats [sub]" as a map.
func (c *raw) stats(sub string) map[string]string {
	c.t.Helper()
	c.send(strings.TrimSpace("stats "+sub) + "\r\n")
	m := map[string]string{}
	for {
		l := strings.TrimSuffix(c.line(), "\r\n")
		if l == "END" {
			return m
		}
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 || f[0] != "STAT" {
			c.t.Fatalf("bad stats line %q", l)
		}
		m[f[1]] = f[2]
	}
}

func TestProtocol(t *testing.T) {
	targets := []struct {
		name  string
		start starter
	}{
		{"pixpool", startNode},
		{"memcached", startMemcached},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			runSuite(t, tg.start)
		})
	}
}

// runSuite is the protocol suite run against both our node and memcached.
// Subtests that only make sense for ours (our extensions, or deliberate
// differences) call oursOnly.
func runSuite(t *testing.T, start starter) {
	shared := start(t)
	mc := newClient(shared)
	oursOnly := func(t *testing.T, tg *target) {
		t.Helper()
		if !tg.ours {
			t.Skip("pixpool extension or deliberate difference from memcached")
		}
	}
	// key makes keys unique per subtest on the shared server.
	key := func(t *testing.T, k string) string { return strings.ReplaceAll(t.Name(), "/", ":") + ":" + k }

	// Timed tests need their own server (flush_all clears it) and run in
	// parallel with the rest to keep the suite short.
	t.Run("Timed", func(t *testing.T) {
		t.Run("Expiry", func(t *testing.T) {
			t.Parallel()
			tg := start(t)
			c := dial(t, tg)
			c.do("set e 0 2 1\r\nx\r\n", "STORED")
			c.do("set n 0 0 1\r\nx\r\n", "STORED")
			c.do("set neg 0 -1 1\r\nx\r\n", "STORED")
			c.do("set abs 0 "+strconv.FormatInt(time.Now().Unix()-10, 10)+" 1\r\nx\r\n", "STORED")
			c.do("get e n neg abs\r\n", "VALUE e 0 1", "x", "VALUE n 0 1", "x", "END")
			time.Sleep(3200 * time.Millisecond)
			c.do("get e n\r\n", "VALUE n 0 1", "x", "END")
		})
		t.Run("FlushDelay", func(t *testing.T) {
			t.Parallel()
			tg := start(t)
			c := dial(t, tg)
			c.do("set k 0 0 1\r\nx\r\n", "STORED")
			c.do("flush_all 3\r\n", "OK")
			c.do("get k\r\n", "VALUE k 0 1", "x", "END")
			time.Sleep(3200 * time.Millisecond)
			c.do("get k\r\n", "END")
		})
	})

	t.Run("Client", func(t *testing.T) {
		t.Run("SetGet", func(t *testing.T) {
			k := key(t, "k")
			if _, err := mc.Get(k); err != memcache.ErrCacheMiss {
				t.Fatalf("Get missing: %v, want ErrCacheMiss", err)
			}
			if err := mc.Set(&memcache.Item{Key: k, Value: []byte("hello"), Flags: 42}); err != nil {
				t.Fatal(err)
			}
			it, err := mc.Get(k)
			if err != nil || string(it.Value) != "hello" || it.Flags != 42 || it.CasID == 0 {
				t.Fatalf("Get=%+v, %v", it, err)
			}
			if err := mc.Set(&memcache.Item{Key: k, Value: []byte("again")}); err != nil {
				t.Fatal(err)
			}
			if it, _ := mc.Get(k); string(it.Value) != "again" || it.Flags != 0 {
				t.Fatalf("Get after overwrite=%+v", it)
			}
			if err := mc.Set(&memcache.Item{Key: k, Value: nil}); err != nil {
				t.Fatal(err)
			}
			if it, err := mc.Get(k); err != nil || len(it.Value) != 0 {
				t.Fatalf("Get empty value=%+v, %v", it, err)
			}
			if err := mc.Ping(); err != nil {
				t.Fatalf("Ping (version): %v", err)
			}
		})
		t.Run("GetMulti", func(t *testing.T) {
			var keys []string
			for i := range 50 {
				k := key(t, strconv.Itoa(i))
				keys = append(keys, k)
				if i%2 == 0 {
					if err := mc.Set(&memcache.Item{Key: k, Value: []byte(k)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			m, err := mc.GetMulti(keys)
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != 25 {
				t.Fatalf("GetMulti found %d keys, want 25", len(m))
			}
			for k, it := range m {
				if string(it.Value) != k {
					t.Fatalf("GetMulti[%q]=%q", k, it.Value)
				}
			}
		})
		t.Run("AddReplace", func(t *testing.T) {
			k := key(t, "k")
			if err := mc.Replace(&memcache.Item{Key: k, Value: []byte("r")}); err != memcache.ErrNotStored {
				t.Fatalf("Replace missing: %v, want ErrNotStored", err)
			}
			if err := mc.Add(&memcache.Item{Key: k, Value: []byte("a")}); err != nil {
				t.Fatalf("Add: %v", err)
			}
			if err := mc.Add(&memcache.Item{Key: k, Value: []byte("b")}); err != memcache.ErrNotStored {
				t.Fatalf("Add existing: %v, want ErrNotStored", err)
			}
			if err := mc.Replace(&memcache.Item{Key: k, Value: []byte("r")}); err != nil {
				t.Fatalf("Replace: %v", err)
			}
			if it, _ := mc.Get(k); string(it.Value) != "r" {
				t.Fatalf("value %q, want r", it.Value)
			}
		})
		t.Run("AppendPrepend", func(t *testing.T) {
			k := key(t, "k")
			if err := mc.Append(&memcache.Item{Key: k, Value: []byte("x")}); err != memcache.ErrNotStored {
				t.Fatalf("Append missing: %v", err)
			}
			mc.Set(&memcache.Item{Key: k, Value: []byte("mid"), Flags: 3})
			if err := mc.Append(&memcache.Item{Key: k, Value: []byte(">")}); err != nil {
				t.Fatal(err)
			}
			if err := mc.Prepend(&memcache.Item{Key: k, Value: []byte("<"), Flags: 9}); err != nil {
				t.Fatal(err)
			}
			if it, _ := mc.Get(k); string(it.Value) != "<mid>" || it.Flags != 3 {
				t.Fatalf("after append/prepend %q flags %d", it.Value, it.Flags)
			}
		})
		t.Run("CompareAndSwap", func(t *testing.T) {
			k := key(t, "k")
			mc.Set(&memcache.Item{Key: k, Value: []byte("v1")})
			it, err := mc.Get(k)
			if err != nil {
				t.Fatal(err)
			}
			stale := *it
			it.Value = []byte("v2")
			if err := mc.CompareAndSwap(it); err != nil {
				t.Fatalf("CompareAndSwap: %v", err)
			}
			stale.Value = []byte("v3")
			if err := mc.CompareAndSwap(&stale); err != memcache.ErrCASConflict {
				t.Fatalf("stale CompareAndSwap: %v, want ErrCASConflict", err)
			}
			mc.Delete(k)
			if err := mc.CompareAndSwap(it); err != memcache.ErrCacheMiss {
				t.Fatalf("CompareAndSwap deleted: %v, want ErrCacheMiss (NOT_FOUND)", err)
			}
		})
		t.Run("Delete", func(t *testing.T) {
			k := key(t, "k")
			mc.Set(&memcache.Item{Key: k, Value: []byte("v")})
			if err := mc.Delete(k); err != nil {
				t.Fatal(err)
			}
			if err := mc.Delete(k); err != memcache.ErrCacheMiss {
				t.Fatalf("Delete missing: %v", err)
			}
			if _, err := mc.Get(k); err != memcache.ErrCacheMiss {
				t.Fatalf("Get deleted: %v", err)
			}
		})
		t.Run("Touch", func(t *testing.T) {
			k := key(t, "k")
			if err := mc.Touch(k, 100); err != memcache.ErrCacheMiss {
				t.Fatalf("Touch missing: %v", err)
			}
			mc.Set(&memcache.Item{Key: k, Value: []byte("v")})
			if err := mc.Touch(k, 100); err != nil {
				t.Fatal(err)
			}
			it, err := mc.GetAndTouch(k, 200)
			if err != nil || string(it.Value) != "v" {
				t.Fatalf("GetAndTouch=%+v, %v", it, err)
			}
			if err := mc.Touch(k, -1); err != nil {
				t.Fatal(err)
			}
			if _, err := mc.Get(k); err != memcache.ErrCacheMiss {
				t.Fatalf("Get after Touch -1: %v", err)
			}
		})
		t.Run("IncrDecr", func(t *testing.T) {
			k := key(t, "k")
			if _, err := mc.Increment(k, 1); err != memcache.ErrCacheMiss {
				t.Fatalf("Increment missing: %v", err)
			}
			mc.Set(&memcache.Item{Key: k, Value: []byte("41")})
			if n, err := mc.Increment(k, 1); err != nil || n != 42 {
				t.Fatalf("Increment=%d, %v", n, err)
			}
			if n, err := mc.Decrement(k, 50); err != nil || n != 0 {
				t.Fatalf("Decrement below zero=%d, %v", n, err)
			}
			mc.Set(&memcache.Item{Key: k, Value: []byte("18446744073709551615")})
			if n, err := mc.Increment(k, 2); err != nil || n != 1 {
				t.Fatalf("Increment wrap=%d, %v", n, err)
			}
			mc.Set(&memcache.Item{Key: k, Value: []byte("abc")})
			if _, err := mc.Increment(k, 1); err == nil {
				t.Fatal("Increment non-numeric succeeded")
			}
		})
		t.Run("LargeValue", func(t *testing.T) {
			k := key(t, "k")
			v := make([]byte, 5<<20)
			for i := range v {
				v[i] = byte(i * 7)
			}
			if err := mc.Set(&memcache.Item{Key: k, Value: v}); err != nil {
				t.Fatal(err)
			}
			it, err := mc.Get(k)
			if err != nil || !bytes.Equal(it.Value, v) {
				t.Fatalf("Get 5 MiB: %v, equal=%v", err, err == nil && bytes.Equal(it.Value, v))
			}
			m, err := mc.GetMulti([]string{k, k + "missing", k})
			if err != nil || !bytes.Equal(m[k].Value, v) {
				t.Fatalf("GetMulti 5 MiB: %v", err)
			}
		})
		t.Run("TooLarge", func(t *testing.T) {
			k := key(t, "k")
			mc.Set(&memcache.Item{Key: k, Value: []byte("old")})
			err := mc.Set(&memcache.Item{Key: k, Value: make([]byte, 17<<20)})
			if err == nil || !strings.Contains(err.Error(), "SERVER_ERROR object too large for cache") {
				t.Fatalf("Set 17 MiB: %v, want SERVER_ERROR object too large for cache", err)
			}
			// The connection is still usable.
			if err := mc.Set(&memcache.Item{Key: k + "2", Value: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("BinarySafe", func(t *testing.T) {
			v := make([]byte, 256*4)
			for i := range v {
				v[i] = byte(i)
			}
			v = append(v, "\r\nEND\r\n\x00"...)
			for _, k := range []string{"ключ/é?&%=~", "a\x80\xff\xfe", key(t, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")} {
				if err := mc.Set(&memcache.Item{Key: k, Value: v, Flags: 0xffffffff}); err != nil {
					t.Fatalf("Set %q: %v", k, err)
				}
				it, err := mc.Get(k)
				if err != nil || !bytes.Equal(it.Value, v) || it.Flags != 0xffffffff {
					t.Fatalf("Get %q: %v %v", k, err, it)
				}
				mc.Delete(k)
			}
		})
		t.Run("FlushAll", func(t *testing.T) {
			tg := start(t)
			c := newClient(tg)
			for i := range 10 {
				c.Set(&memcache.Item{Key: strconv.Itoa(i), Value: []byte("v")})
			}
			if err := c.FlushAll(); err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				if _, err := c.Get(strconv.Itoa(i)); err != memcache.ErrCacheMiss {
					t.Fatalf("Get after FlushAll: %v", err)
				}
			}
			if err := c.Set(&memcache.Item{Key: "after", Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Get("after"); err != nil {
				t.Fatalf("Get of item set after flush: %v", err)
			}
		})
	})

	t.Run("Raw", func(t *testing.T) {
		t.Run("Errors", func(t *testing.T) {
			long := strings.Repeat("k", 251)
			max := strings.Repeat("k", 250)
			tests := []struct {
				name, send string
				want       []string
			}{
				{"Unknown", "bogus\r\n", []string{"ERROR"}},
				{"Empty", "\r\n", []string{"ERROR"}},
				{"UpperCase", "GET k\r\n", []string{"ERROR"}},
				{"GetNoKey", "get\r\n", []string{"ERROR"}},
				{"GetsNoKey", "gets\r\n", []string{"ERROR"}},
				{"SetFewArgs", "set k 0 0\r\n", []string{"ERROR"}},
				{"SetManyArgs", "set k 0 0 1 noreply extra\r\nx\r\n", []string{"ERROR", "ERROR"}},
				{"SetBadFlags", "set k x 0 1\r\nx\r\n", []string{"CLIENT_ERROR bad command line format", "ERROR"}},
				{"SetNegativeFlags", "set k -1 0 1\r\nx\r\n", []string{"CLIENT_ERROR bad command line format", "ERROR"}},
				{"SetBadExptime", "set k 0 x 1\r\nx\r\n", []string{"CLIENT_ERROR bad command line format", "ERROR"}},
				{"SetNegativeLength", "set k 0 0 -1\r\nx\r\n", []string{"CLIENT_ERROR bad command line format", "ERROR"}},
				{"SetBadLength", "set k 0 0 1x\r\nx\r\n", []string{"CLIENT_ERROR bad command line format", "ERROR"}},
				{"BadDataChunk", "set k 0 0 3\r\nabcde\r\n", []string{"CLIENT_ERROR bad data chunk", "ERROR"}},
				{"BadDataChunkNoCRLF", "set k 0 0 1\r\nx\rget k\r\n", []string{"CLIENT_ERROR bad data chunk", "ERROR"}},
				{"SetKeyTooLong", "set " + long + " 0 0 1\r\nx\r\n", []string{"CLIENT_ERROR bad command line format", "ERROR"}},
				{"SetKeyMaxLength", "set " + max + " 0 0 1\r\nx\r\nget " + max + "\r\ndelete " + max + "\r\n", []string{"STORED", "VALUE " + max + " 0 1", "x", "END", "DELETED"}},
				{"GetKeyTooLong", "get " + long + "\r\n", []string{"CLIENT_ERROR bad command line format"}},
				{"GetSecondKeyTooLong", "get a b " + long + "\r\n", []string{"CLIENT_ERROR bad command line format"}},
				{"DeleteKeyTooLong", "delete " + long + "\r\n", []string{"CLIENT_ERROR bad command line format"}},
				{"CasFewArgs", "cas k 0 0 1\r\nx\r\n", []string{"ERROR", "ERROR"}},
				{"CasBadUnique", "cas k 0 0 1 x\r\nx\r\n", []string{"CLIENT_ERROR bad command line format", "ERROR"}},
				{"CasMissing", "cas errcas 0 0 1 1\r\nx\r\n", []string{"NOT_FOUND"}},
				{"IncrNoArgs", "incr\r\n", []string{"ERROR"}},
				{"IncrNoDelta", "incr k\r\n", []string{"ERROR"}},
				{"IncrBadDelta", "incr k x\r\n", []string{"CLIENT_ERROR invalid numeric delta argument"}},
				{"IncrNegativeDelta", "incr k -1\r\n", []string{"CLIENT_ERROR invalid numeric delta argument"}},
				{"IncrHugeDelta", "incr k 18446744073709551616\r\n", []string{"CLIENT_ERROR invalid numeric delta argument"}},
				{"IncrMissing", "incr errincr 1\r\n", []string{"NOT_FOUND"}},
				{"IncrNonNumeric", "set errnn 0 0 2\r\nab\r\nincr errnn 1\r\n", []string{"STORED", "CLIENT_ERROR cannot increment or decrement non-numeric value"}},
				{"DecrMissing", "decr errdecr 1\r\n", []string{"NOT_FOUND"}},
				{"TouchNoArgs", "touch\r\n", []string{"ERROR"}},
				{"TouchBadExptime", "touch k x\r\n", []string{"CLIENT_ERROR invalid exptime argument"}},
				{"TouchMissing", "touch errtouch 10\r\n", []string{"NOT_FOUND"}},
				{"GatBadExptime", "gat x k\r\n", []string{"CLIENT_ERROR invalid exptime argument"}},
				{"GatNoKeys", "gat 10\r\n", []string{"END"}},
				{"GatNoArgs", "gat\r\n", []string{"ERROR"}},
				{"DeleteNoKey", "delete\r\n", []string{"ERROR"}},
				{"DeleteHold", "delete errdel 5\r\n", []string{"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"}},
				{"DeleteZeroHold", "delete errdel 0\r\n", []string{"NOT_FOUND"}},
				{"FlushBadDelay", "flush_all x\r\n", []string{"CLIENT_ERROR invalid exptime argument"}},
				{"VerbosityNoArg", "verbosity\r\n", []string{"ERROR"}},
				{"VerbosityBad", "verbosity x\r\n", []string{"CLIENT_ERROR bad command line format"}},
				{"Verbosity", "verbosity 1\r\n", []string{"OK"}},
				{"StatsUnknown", "stats bogus\r\n", []string{"ERROR"}},
				{"MemlimitNoArg", "cache_memlimit\r\n", []string{"ERROR"}},
				{"MemlimitBad", "cache_memlimit x\r\n", []string{"ERROR"}},
				{"MemlimitBytes", "cache_memlimit 2000000000\r\n", []string{"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes"}},
				{"CrawlerNoArgs", "lru_crawler\r\n", []string{"ERROR"}},
				{"MetadumpNoClass", "lru_crawler metadump\r\n", []string{"ERROR"}},
				{"MetadumpBadClass", "lru_crawler metadump bogus\r\n", []string{"BADCLASS invalid class id"}},
				{"BareLF", "set errlf 0 0 1\nx\nget errlf\n", []string{"CLIENT_ERROR bad data chunk", "ERROR"}},
				{"BareLFCommands", "get errlf\nversion\n", []string{"END", "VERSION " + versionOf(t, nil, shared)}},
				{"ExtraSpaces", "set errsp 0 0 1 \r\nx\r\n  get   errsp  \r\n", []string{"STORED", "VALUE errsp 0 1", "x", "END"}},
				{"TabInKey", "set err\ttab 0 0 1\r\nx\r\nget err\ttab\r\n", []string{"STORED", "VALUE err\ttab 0 1", "x", "END"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := dial(t, shared)
					c.do(tt.send, tt.want...)
					c.do("version\r\n", "VERSION "+versionOf(t, c, shared)) // still in sync
				})
			}
		})
		t.Run("Storage", func(t *testing.T) {
			c := dial(t, shared)
			k := key(t, "k")
			c.do("get "+k+"\r\n", "END")
			c.do("set "+k+" 7 0 5\r\nhello\r\n", "STORED")
			c.do("get "+k+"\r\n", "VALUE "+k+" 7 5", "hello", "END")
			c.send("gets " + k + "\r\n")
			f := strings.Fields(c.line())
			c.expect("hello", "END")
			if len(f) != 5 || f[0] != "VALUE" || f[1] != k || f[2] != "7" || f[3] != "5" {
				t.Fatalf("gets line %q", f)
			}
			cas := f[4]
			c.do("cas "+k+" 1 0 1 "+cas+"0\r\nx\r\n", "EXISTS")
			c.do("cas "+k+" 1 0 1 "+cas+"\r\nx\r\n", "STORED")
			c.do("cas "+k+" 1 0 1 "+cas+"\r\ny\r\n", "EXISTS")
			c.do("add "+k+" 0 0 1\r\ny\r\n", "NOT_STORED")
			c.do("replace "+k+"x 0 0 1\r\ny\r\n", "NOT_STORED")
			c.do("append "+k+" 0 0 2\r\nyz\r\n", "STORED")
			c.do("prepend "+k+" 0 0 1\r\nw\r\n", "STORED")
			c.do("get "+k+" "+k+"x "+k+"\r\n", "VALUE "+k+" 1 4", "wxyz", "VALUE "+k+" 1 4", "wxyz", "END")
			c.do("set "+k+" 0 0 2\r\n10\r\nincr "+k+" 5\r\ndecr "+k+" 3\r\n", "STORED", "15", "12")
			c.do("gat 0 "+k+"\r\n", "VALUE "+k+" 0 2", "12", "END")
			c.do("touch "+k+" 100\r\n", "TOUCHED")
			c.do("delete "+k+"\r\n", "DELETED")
			c.do("delete "+k+"\r\n", "NOT_FOUND")
			c.do("set "+k+" 0 0 0\r\n\r\nget "+k+"\r\n", "STORED", "VALUE "+k+" 0 0", "", "END")
			c.do("set "+k+" 4294967295 0 1\r\nx\r\nget "+k+"\r\n", "STORED", "VALUE "+k+" 4294967295 1", "x", "END")
		})
		t.Run("Noreply", func(t *testing.T) {
			c := dial(t, shared)
			k := key(t, "k")
			c.send("set " + k + " 0 0 1 noreply\r\n1\r\n" +
				"add " + k + " 0 0 1 noreply\r\n2\r\n" +
				"replace " + k + "x 0 0 1 noreply\r\n2\r\n" +
				"append " + k + " 0 0 1 noreply\r\n0\r\n" +
				"incr " + k + " 5 noreply\r\n" +
				"decr " + k + " 1 noreply\r\n" +
				"incr " + k + " x noreply\r\n" +
				"touch " + k + " 0 noreply\r\n" +
				"touch " + k + " x noreply\r\n" +
				"cas " + k + " 0 0 1 1 noreply\r\nz\r\n" +
				"set " + k + "x 0 0 3 noreply\r\nabcde\r\n" + // bad data chunk, silent
				"verbosity 1 noreply\r\n" +
				"flush_all x noreply\r\n" +
				"get " + k + "\r\n" +
				"delete " + k + " noreply\r\n" +
				"delete " + k + " 0 noreply\r\n" +
				"get " + k + "\r\n")
			// The bad data chunk leaves its "\r\n", read as an empty command:
			// ERROR, which the set's noreply does not cover.
			c.expect("ERROR", "VALUE "+k+" 0 2", "14", "END", "END")
		})
		t.Run("Pipelining", func(t *testing.T) {
			c := dial(t, shared)
			k := key(t, "k")
			var b strings.Builder
			var want []string
			for i := range 300 {
				v := strconv.Itoa(i)
				fmt.Fprintf(&b, "set %s%d 0 0 %d\r\n%s\r\nget %s%d\r\n", k, i, len(v), v, k, i)
				want = append(want, "STORED", fmt.Sprintf("VALUE %s%d 0 %d", k, i, len(v)), v, "END")
			}
			b.WriteString("get")
			for i := range 300 {
				fmt.Fprintf(&b, " %s%d", k, i)
				want = append(want, fmt.Sprintf("VALUE %s%d 0 %d", k, i, len(strconv.Itoa(i))), strconv.Itoa(i))
			}
			b.WriteString("\r\n")
			want = append(want, "END")
			// Write from another goroutine: the answers may fill the socket
			// buffers before all requests are written.
			go io.WriteString(c.nc, b.String())
			c.expect(want...)
		})
		t.Run("PipelinePartialLine", func(t *testing.T) {
			// A complete command is answered at once, even when the next
			// one has only partly arrived (issue 11, item 16).
			c := dial(t, shared)
			want := "VERSION " + versionOf(t, c, shared)
			c.send("version\r\nver")
			c.expect(want)
			c.do("sion\r\n", want)
		})
		t.Run("PipelinePartialValue", func(t *testing.T) {
			// Nor do answers wait behind a value still arriving
			// (memcached answers only once the value is complete).
			oursOnly(t, shared)
			c := dial(t, shared)
			k := key(t, "k")
			c.send("get " + k + "\r\nset " + k + " 0 0 10\r\n01234")
			c.expect("END")
			c.do("56789\r\n", "STORED")
		})
		t.Run("LongGetLine", func(t *testing.T) {
			// Retrieval lines may exceed 2048 bytes (many keys).
			c := dial(t, shared)
			k := key(t, strings.Repeat("x", 200))
			c.do("set "+k+" 0 0 1\r\nv\r\n", "STORED")
			var want []string
			line := "get"
			for range 40 {
				line += " " + k
				want = append(want, "VALUE "+k+" 0 1", "v")
			}
			c.do(line+"\r\n", append(want, "END")...)
		})
		t.Run("OverlongLineCloses", func(t *testing.T) {
			c := dial(t, shared)
			c.send("set " + strings.Repeat("a", 4000))
			c.expectClosed()
			c = dial(t, shared)
			c.send("bogus " + strings.Repeat("a", 100<<10))
			c.expectClosed()
		})
		t.Run("AbsurdLength", func(t *testing.T) {
			// Longer than the item limit: refused, and the data would be
			// skipped; the client hangs up instead of sending 2 GB.
			c := dial(t, shared)
			c.send("set " + key(t, "k") + " 0 0 2147483000\r\n" + strings.Repeat("z", 1<<20))
			c.nc.Close()
			c = dial(t, shared)
			c.do("get "+key(t, "k")+"\r\n", "END")
		})
		t.Run("DisconnectMidValue", func(t *testing.T) {
			k := key(t, "k")
			for _, n := range []int{10, 100 << 10} {
				c := dial(t, shared)
				c.send("set " + k + " 0 0 1000000\r\n" + strings.Repeat("v", n))
				c.nc.Close()
			}
			c := dial(t, shared)
			c.send("get " + k + " " + k + "\r\n")
			c.expect("END")
			c.do("set "+k+" 0 0 1\r\nx\r\n", "STORED")
		})
		t.Run("TooLargeRaw", func(t *testing.T) {
			c := dial(t, shared)
			k := key(t, "k")
			c.do("set "+k+" 0 0 3\r\nold\r\n", "STORED")
			// Both answer once the data is consumed; memcached only then.
			c.send("set " + k + " 0 0 17000000\r\n")
			go io.WriteString(c.nc, strings.Repeat("y", 17000000)+"\r\n")
			c.expect("SERVER_ERROR object too large for cache")
			c.do("add "+k+"x 0 0 17000000 noreply\r\n"+strings.Repeat("y", 17000000)+"\r\nversion\r\n", "VERSION "+versionOf(t, c, shared))
		})
		t.Run("Quit", func(t *testing.T) {
			c := dial(t, shared)
			c.send("version\r\nquit\r\nversion\r\n")
			c.line()
			c.expectClosed()
		})
		t.Run("ManyConnections", func(t *testing.T) {
			const n = 1000
			conns := make([]*raw, n)
			for i := range conns {
				conns[i] = dial(t, shared)
			}
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for g := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; i < n; i += 20 {
						nc := conns[i].nc
						k := fmt.Sprintf("many%d", i)
						fmt.Fprintf(nc, "set %s 0 0 %d\r\n%s\r\nget %s\r\n", k, len(k), k, k)
						want := fmt.Sprintf("STORED\r\nVALUE %s 0 %d\r\n%s\r\nEND\r\n", k, len(k), k)
						got := make([]byte, len(want))
						nc.SetReadDeadline(time.Now().Add(20 * time.Second))
						if _, err := io.ReadFull(nc, got); err != nil || string(got) != want {
							errs <- fmt.Errorf("conn %d: %q, %v", i, got, err)
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for _, c := range conns {
				c.nc.Close()
			}
		})
		t.Run("Stats", func(t *testing.T) {
			tg := start(t)
			c := dial(t, tg)
			c.do("set a 0 0 1\r\nx\r\nget a b\r\n", "STORED", "VALUE a 0 1", "x", "END")
			m := c.stats("")
			for _, f := range []string{"pid", "uptime", "time", "version", "pointer_size", "rusage_user", "rusage_system",
				"max_connections", "curr_connections", "total_connections", "rejected_connections",
				"cmd_get", "cmd_set", "cmd_flush", "cmd_touch", "get_hits", "get_misses", "get_expired", "get_flushed",
				"delete_misses", "delete_hits", "incr_misses", "incr_hits", "decr_misses", "decr_hits",
				"cas_misses", "cas_hits", "cas_badval", "touch_hits", "touch_misses", "store_too_large", "store_no_memory",
				"bytes_read", "bytes_written", "limit_maxbytes", "threads", "bytes", "curr_items", "total_items",
				"expired_unfetched", "evicted_unfetched", "evictions", "reclaimed"} {
				if _, ok := m[f]; !ok {
					t.Errorf("stats: no %s", f)
				}
			}
			want := map[string]string{"cmd_get": "2", "cmd_set": "1", "get_hits": "1", "get_misses": "1", "curr_items": "1",
				"total_items": "1", "evictions": "0", "limit_maxbytes": "67108864", "curr_connections": "1"}
			if tg.ours {
				want["policy"] = "lru"
				want["requests_last_5s"] = "3"
			}
			for f, v := range want {
				if m[f] != v {
					t.Errorf("stats %s=%q, want %q", f, m[f], v)
				}
			}
			if pid, _ := strconv.Atoi(m["pid"]); pid <= 0 {
				t.Errorf("stats pid=%q", m["pid"])
			}
			if tm, _ := strconv.ParseInt(m["time"], 10, 64); tm < time.Now().Unix()-5 || tm > time.Now().Unix()+5 {
				t.Errorf("stats time=%q, now is %d", m["time"], time.Now().Unix())
			}
			if b, _ := strconv.Atoi(m["bytes"]); b < 3 || b > 100 {
				t.Errorf("stats bytes=%q for one small item", m["bytes"])
			}
			s := c.stats("settings")
			for f, v := range map[string]string{"maxbytes": "67108864", "item_size_max": "16777216", "evictions": "on", "cas_enabled": "yes"} {
				if s[f] != v {
					t.Errorf("stats settings %s=%q, want %q", f, s[f], v)
				}
			}
			if tg.ours && s["policy"] != "lru" {
				t.Errorf("stats settings policy=%q, want lru", s["policy"])
			}
			c.do("stats reset\r\n", "RESET")
			if m := c.stats(""); m["cmd_get"] != "0" || m["curr_items"] != "1" {
				t.Errorf("after stats reset: cmd_get=%s curr_items=%s", m["cmd_get"], m["curr_items"])
			}
		})
		t.Run("Metadump", func(t *testing.T) {
			tg := start(t)
			c := dial(t, tg)
			// memcached refuses a metadump pipelined after other commands:
			// wait for each answer.
			c.do("set plain 1 0 1\r\nx\r\n", "STORED")
			c.do("set exp:é%/ 0 1000 2\r\nxy\r\n", "STORED")
			c.do("set third 0 0 3\r\nxyz\r\n", "STORED")
			c.do("get plain\r\n", "VALUE plain 1 1", "x", "END")
			dump := metadump(t, c)
			byKey := map[string]dumpLine{}
			for _, d := range dump {
				byKey[d.key] = d
			}
			if len(dump) != 3 || len(byKey) != 3 {
				t.Fatalf("metadump %v, want 3 keys", dump)
			}
			now := time.Now().Unix()
			p, e := byKey["plain"], byKey["exp:é%/"]
			if p.exp != -1 || !p.fetch || byKey["third"].fetch {
				t.Errorf("metadump plain=%+v third=%+v", p, byKey["third"])
			}
			if e.exp < now+990 || e.exp > now+1010 || e.fetch || e.rawKey != "exp%3A%C3%A9%25%2F" {
				t.Errorf("metadump exp=%+v", e)
			}
			if p.la < now-5 || p.la > now+5 || p.size < 3 {
				t.Errorf("metadump plain la=%d size=%d", p.la, p.size)
			}
			if tg.ours {
				// Ours lists in exact LRU order, least recent first.
				if got := []string{dump[0].key, dump[1].key, dump[2].key}; !slices.Equal(got, []string{"exp:é%/", "third", "plain"}) {
					t.Errorf("metadump order %v", got)
				}
				if got, want := p.size, int64(len("plain")+1+cache.ItemOverhead); got != want {
					t.Errorf("metadump size=%d, want %d", got, want)
				}
			}
			// Class 1 is every item, for both.
			var all, one []string
			for _, d := range dump {
				all = append(all, d.key)
			}
			for _, d := range metadumpCmd(t, c, "lru_crawler metadump 1") {
				one = append(one, d.key)
			}
			slices.Sort(all)
			slices.Sort(one)
			if !slices.Equal(all, one) {
				t.Errorf("metadump 1 listed %v, metadump all %v", one, all)
			}
		})
		t.Run("Memlimit", func(t *testing.T) {
			tg := start(t)
			c := dial(t, tg)
			c.do("cache_memlimit 100\r\n", "OK")
			if m := c.stats(""); m["limit_maxbytes"] != strconv.Itoa(100<<20) {
				t.Fatalf("limit_maxbytes=%s after cache_memlimit 100", m["limit_maxbytes"])
			}
			c.do("cache_memlimit 64 noreply\r\nversion\r\n", "VERSION "+versionOf(t, c, tg))
			if m := c.stats("settings"); m["maxbytes"] != strconv.Itoa(64<<20) {
				t.Fatalf("maxbytes=%s after cache_memlimit 64", m["maxbytes"])
			}
		})
	})

	// Our extensions and deliberate differences.
	t.Run("Meta", func(t *testing.T) {
		// mg, the meta get the pool's hot tier validates with: a fresh
		// server, so both number CAS uniques alike from 1.
		tg := start(t)
		c := dial(t, tg)
		c.do("mg a c\r\n", "EN")
		c.do("mg a v c q\r\nmn\r\n", "MN")
		c.do("set a 5 0 3\r\nabc\r\n", "STORED")
		c.do("mg a c\r\n", "HD c1")
		c.do("mg a\r\n", "HD")
		c.do("mg a v c k\r\n", "VA 3 c1 ka", "abc")
		c.do("mg a k v c f s t\r\n", "VA 3 ka c1 f5 s3 t-1", "abc")
		c.do("mg a O77 q k c\r\n", "HD O77 ka c1")
		c.do("gets a\r\n", "VALUE a 5 3 1", "abc", "END")
		c.do("mg a Z\r\n", "CLIENT_ERROR invalid flag")
		c.do("mg a c c\r\n", "CLIENT_ERROR duplicate flag")
		c.do("mg a v noreply\r\n", "CLIENT_ERROR invalid flag")
		c.do("mg\r\n", "ERROR")
		c.do("mg "+strings.Repeat("k", 251)+" c\r\n", "CLIENT_ERROR bad command line format")
		c.do("mg a s v\r\n", "VA 3 s3", "abc")

		// Every modifying command gives the item a new CAS unique; touch
		// and gat do not (as memcached). The hot tier relies on this.
		cas := func() string {
			t.Helper()
			c.send("mg n c\r\n")
			l := strings.TrimSuffix(c.line(), "\r\n")
			if !strings.HasPrefix(l, "HD c") {
				t.Fatalf("mg n c: %q", l)
			}
			return l
		}
		c.do("set n 0 0 1\r\n5\r\n", "STORED")
		seen := map[string]string{"set": cas()}
		for _, step := range []struct{ name, cmd, want string }{
			{"set again", "set n 0 0 1\r\n5\r\n", "STORED"},
			{"replace", "replace n 0 0 1\r\n5\r\n", "STORED"},
			{"append", "append n 0 0 1\r\n0\r\n", "STORED"},
			{"prepend", "prepend n 0 0 1\r\n1\r\n", "STORED"},
			{"incr", "incr n 1\r\n", "151"},
			{"decr", "decr n 1\r\n", "150"},
			{"cas", "", "STORED"},
		} {
			cmd := step.cmd
			if step.name == "cas" {
				cmd = "cas n 0 0 1 " + strings.TrimPrefix(cas(), "HD c") + "\r\n7\r\n"
			}
			c.do(cmd, step.want)
			got := cas()
			for prev, v := range seen {
				if v == got {
					t.Fatalf("after %s the CAS %q is the one after %s", step.name, got, prev)
				}
			}
			seen[step.name] = got
		}
		before := cas()
		c.do("touch n 100\r\n", "TOUCHED")
		c.do("gat 0 n\r\n", "VALUE n 0 1", "7", "END")
		if got := cas(); got != before {
			t.Fatalf("touch changed the CAS: %q, then %q", before, got)
		}
		c.do("delete n\r\n", "DELETED")
		c.do("add n 0 0 1\r\n1\r\n", "STORED")
		if got := cas(); got == before {
			t.Fatalf("add after delete kept the CAS %q", got)
		}
	})

	t.Run("Ours", func(t *testing.T) {
		t.Run("ErrorsOurs", func(t *testing.T) {
			oursOnly(t, shared)
			c := dial(t, shared)
			// memcached truncates to 32 bits and swallows ~1.2 GB; we refuse.
			c.do("set k 0 0 99999999999\r\n", "CLIENT_ERROR bad command line format")
			c.do("set k 4294967296 0 1\r\nx\r\n", "CLIENT_ERROR bad command line format", "ERROR")
			c.do("cache_memlimit 0\r\n", "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 1m")
			c.do("lru_crawler metadump all extra\r\n", "ERROR")
			c.do("shutdown\r\n", "ERROR: shutdown not enabled")
		})
		t.Run("TooLargeKeepsOld", func(t *testing.T) {
			oursOnly(t, shared)
			// memcached deletes the old value of a refused set; we keep it.
			c := dial(t, shared)
			k := key(t, "k")
			c.do("set "+k+" 0 0 3\r\nold\r\n", "STORED")
			c.send("set " + k + " 0 0 17000000\r\n")
			// Ours answers before the data arrives.
			c.expect("SERVER_ERROR object too large for cache")
			c.send(strings.Repeat("y", 17000000) + "\r\n")
			c.do("get "+k+"\r\n", "VALUE "+k+" 0 3", "old", "END")
		})
		t.Run("CachePolicy", func(t *testing.T) {
			oursOnly(t, shared)
			tg := start(t)
			c := dial(t, tg)
			c.do("cache_policy\r\n", "POLICY lru")
			for i := range 20 {
				c.do(fmt.Sprintf("set k%d 0 0 1\r\nx\r\n", i), "STORED")
			}
			c.do("cache_policy rr\r\n", "OK")
			c.do("cache_policy\r\n", "POLICY rr")
			if s := c.stats("settings"); s["policy"] != "rr" {
				t.Fatalf("stats settings policy=%s", s["policy"])
			}
			if s := c.stats(""); s["policy"] != "rr" || s["curr_items"] != "20" {
				t.Fatalf("stats policy=%s curr_items=%s after switch", s["policy"], s["curr_items"])
			}
			c.do("cache_policy lru noreply\r\ncache_policy\r\n", "POLICY lru")
			c.do("cache_policy fifo\r\n", "CLIENT_ERROR bad command line format")
			c.do("cache_policy lru x y\r\n", "ERROR")
			c.do("get k0 k19\r\n", "VALUE k0 0 1", "x", "VALUE k19 0 1", "x", "END")
		})
		t.Run("CachePolicyUnknownToMemcached", func(t *testing.T) {
			if shared.ours {
				t.Skip("shows memcached does not have the extension")
			}
			dial(t, shared).do("cache_policy lru\r\n", "ERROR")
		})
		t.Run("MemlimitShrinkEvicts", func(t *testing.T) {
			oursOnly(t, shared)
			tg := start(t)
			c := dial(t, tg)
			v := strings.Repeat("v", 100<<10)
			for i := range 30 {
				c.do(fmt.Sprintf("set k%02d 0 0 %d\r\n%s\r\n", i, len(v), v), "STORED")
			}
			c.do("cache_memlimit 1\r\n", "OK")
			m := c.stats("")
			if b, _ := strconv.Atoi(m["bytes"]); b > 1<<20 || b < 900<<10 {
				t.Fatalf("bytes=%d after cache_memlimit 1, want just under 1 MiB", b)
			}
			if m["curr_items"] != "10" || m["evictions"] != "20" {
				t.Fatalf("curr_items=%s evictions=%s, want 10 and 20", m["curr_items"], m["evictions"])
			}
			// LRU: the 10 newest stay.
			c.do("get k19 k20 k29\r\n", "VALUE k20 0 "+strconv.Itoa(len(v)), v, "VALUE k29 0 "+strconv.Itoa(len(v)), v, "END")
			c.do("set big 0 0 2000000\r\n", "SERVER_ERROR object too large for cache")
		})
		t.Run("RequestsLast5s", func(t *testing.T) {
			oursOnly(t, shared)
			tg := start(t)
			c := dial(t, tg)
			c.do("set a 0 0 1\r\nx\r\nget a b c\r\ndelete a\r\n", "STORED", "VALUE a 0 1", "x", "END", "DELETED")
			if m := c.stats(""); m["requests_last_5s"] != "5" {
				t.Fatalf("requests_last_5s=%s, want 5", m["requests_last_5s"])
			}
		})
		t.Run("BinaryProtocolCloses", func(t *testing.T) {
			oursOnly(t, shared)
			c := dial(t, shared)
			c.send("\x80\x00\x00\x00")
			c.expectClosed()
		})
		t.Run("MaxConns", func(t *testing.T) {
			oursOnly(t, shared)
			tg := startNodeWith(t, &cache.Server{MaxConns: 2})
			a, b := dial(t, tg), dial(t, tg)
			a.do("version\r\n", "VERSION "+cache.DefaultVersion)
			b.do("version\r\n", "VERSION "+cache.DefaultVersion)
			c := dial(t, tg)
			c.expect("ERROR Too many open connections")
			c.expectClosed()
			a.nc.Close()
			// The slot is freed once the server sees the close.
			deadline := time.Now().Add(5 * time.Second)
			for {
				d := dial(t, tg)
				d.send("version\r\n")
				if l := d.line(); l == "VERSION "+cache.DefaultVersion+"\r\n" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("connection slot not freed")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if m := b.stats(""); m["rejected_connections"] == "0" || m["max_connections"] != "2" {
				t.Fatalf("rejected_connections=%s max_connections=%s", m["rejected_connections"], m["max_connections"])
			}
		})
	})
}

// versionOf returns the target's version string, asking once.
var versions sync.Map

func versionOf(t testing.TB, c *raw, tg *target) string {
	if v, ok := versions.Load(tg.addr); ok {
		return v.(string)
	}
	d := dial(t, tg)
	d.send("version\r\n")
	v := strings.TrimSuffix(strings.TrimPrefix(d.line(), "VERSION "), "\r\n")
	versions.Store(tg.addr, v)
	return v
}

type dumpLine struct {
	line, rawKey, key string
	exp, la, size     int64
	cas               uint64
	fetch             bool
}

var dumpRE = regexp.MustCompile(`^key=(\S+) exp=(-1|\d+) la=(\d+) cas=(\d+) fetch=(yes|no) cls=(\d+) size=(\d+)\n$`)

// metadump runs "lru_crawler metadump all" and parses its lines, which end
// in a bare "\n" (memcached's format) before "END\r\n".
func metadump(t testing.TB, c *raw) []dumpLine {
	t.Helper()
	return metadumpCmd(t, c, "lru_crawler metadump all")
}

func metadumpCmd(t testing.TB, c *raw, cmd string) []dumpLine {
	t.Helper()
	c.send(cmd + "\r\n")
	var out []dumpLine
	for busy := 0; ; {
		l := c.line()
		if l == "END\r\n" {
			return out
		}
		// memcached answers BUSY while its own background crawler (started
		// for items with an expiry) runs; a client asks again.
		if strings.HasPrefix(l, "BUSY ") && len(out) == 0 && busy < 50 {
			busy++
			time.Sleep(20 * time.Millisecond)
			c.send(cmd + "\r\n")
			continue
		}
		m := dumpRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("bad metadump line %q", l)
		}
		k, err := url.PathUnescape(m[1])
		if err != nil {
			t.Fatalf("metadump key %q: %v", m[1], err)
		}
		d := dumpLine{line: strings.TrimSuffix(l, "\n"), rawKey: m[1], key: k, fetch: m[5] == "yes"}
		d.exp, _ = strconv.ParseInt(m[2], 10, 64)
		d.la, _ = strconv.ParseInt(m[3], 10, 64)
		d.cas, _ = strconv.ParseUint(m[4], 10, 64)
		d.size, _ = strconv.ParseInt(m[7], 10, 64)
		out = append(out, d)
	}
}

func TestServer_Shutdown(t *testing.T) {
	srv := &cache.Server{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tg := &target{addr: ln.Addr().String(), ours: true, srv: srv}
	idle := dial(t, tg)
	idle.do("version\r\n", "VERSION "+cache.DefaultVersion)
	busy := dial(t, tg)
	// A set whose data is still on its way when Shutdown starts.
	busy.send("set k 0 0 10\r\n01234")
	time.Sleep(50 * time.Millisecond)
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	idle.expectClosed()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a command was in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	busy.send("56789\r\n")
	busy.expect("STORED")
	busy.expectClosed()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; !errors.Is(err, cache.ErrServerClosed) {
		t.Fatalf("Serve: %v, want ErrServerClosed", err)
	}
	if it, ok := srv.Store.Get("k"); !ok || string(it.Value) != "0123456789" {
		t.Fatalf("set finished during Shutdown not stored: %v %q", ok, it.Value)
	}
	if _, err := net.Dial("tcp", tg.addr); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
	if err := srv.Serve(ln); !errors.Is(err, cache.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestServer_ShutdownDeadline(t *testing.T) {
	srv := &cache.Server{}
	tg := startNodeWith(t, srv)
	busy := dial(t, tg)
	busy.send("set k 0 0 10\r\n01234")
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
	}
	busy.expectClosed()
}

func TestServer_IdleTimeout(t *testing.T) {
	tg := startNodeWith(t, &cache.Server{IdleTimeout: 100 * time.Millisecond})
	c := dial(t, tg)
	c.do("version\r\n", "VERSION "+cache.DefaultVersion)
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}
}

func TestServer_ListenAndServe(t *testing.T) {
	srv := &cache.Server{Addr: "127.0.0.1:0", Version: "test-1"}
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe() }()
	time.Sleep(20 * time.Millisecond)
	srv.Close()
	if err := <-done; !errors.Is(err, cache.ErrServerClosed) {
		t.Fatalf("ListenAndServe: %v", err)
	}
	bad := &cache.Server{Addr: "256.0.0.1:bad"}
	if err := bad.ListenAndServe(); err == nil {
		t.Fatal("ListenAndServe on a bad address succeeded")
	}
}

func TestServer_IdleTimeoutMidValue(t *testing.T) {
	// The timeout is on inactivity: an upload that keeps coming survives
	// longer than the timeout, one that stalls is cut.
	tg := startNodeWith(t, &cache.Server{IdleTimeout: 200 * time.Millisecond})
	c := dial(t, tg)
	c.send("set k 0 0 10\r\n")
	for _, b := range "0123456789" {
		time.Sleep(50 * time.Millisecond)
		c.send(string(b))
	}
	c.do("\r\n", "STORED")
	c.send("set k 0 0 10\r\n01234")
	c.expectClosed()
}

func TestServer_SlowReaderCut(t *testing.T) {
	// A client that asks for large values and never reads its answers
	// must not hold its connection (and the values) forever.
	tg := startNodeWith(t, &cache.Server{IdleTimeout: 200 * time.Millisecond})
	mc := newClient(tg)
	if err := mc.Set(&memcache.Item{Key: "big", Value: make([]byte, 4<<20)}); err != nil {
		t.Fatal(err)
	}
	mc.Close()
	c := dial(t, tg)
	c.send(strings.Repeat("get big\r\n", 20)) // 80 MB of answers, unread
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := dial(t, tg)
		if m := d.stats(""); m["curr_connections"] == "1" {
			break
		}
		d.nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("connection of a client that does not read was not closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServer_GetLineBound(t *testing.T) {
	// A get line may be long, but not unbounded.
	tg := startNode(t)
	c := dial(t, tg)
	var b strings.Builder
	b.WriteString("get")
	for b.Len() < 200<<10 {
		b.WriteString(" " + strings.Repeat("k", 250))
	}
	c.do(b.String()+"\r\n", "END")
	c.send("get " + strings.Repeat("k ", 300<<10))
	c.expectClosed()
}
