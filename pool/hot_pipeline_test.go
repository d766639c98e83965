package pool

import (
	"bufio"
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// metaFake is a cache node speaking only the meta commands the hot tier
// sends, whose behaviour a test steers: each key has a CAS, its value is
// "<key>@<cas>". hook, if set, is called for every validation ("mg <key>
// c") with the connection's count of them so far (from 1) and the CAS
// read at that moment; it returns the line to answer ("" to close the
// connection) and may block.
type metaFake struct {
	ln net.Listener

	mu    sync.Mutex
	cas   map[string]uint64
	hook  func(key string, nth int, cas uint64) string
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startMetaFake(t *testing.T) *metaFake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &metaFake{ln: ln, cas: map[string]uint64{}, conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns[nc] = true
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serve(nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for nc := range f.conns {
			nc.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *metaFake) setCAS(key string, cas uint64) {
	f.mu.Lock()
	f.cas[key] = cas
	f.mu.Unlock()
}

func (f *metaFake) serve(nc net.Conn) {
	defer nc.Close()
	r := bufio.NewReader(nc)
	nth := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		fs := strings.Fields(line)
		if len(fs) < 3 || fs[0] != "mg" {
			nc.Write([]byte("ERROR\r\n"))
			continue
		}
		key := fs[1]
		f.mu.Lock()
		cas, hook := f.cas[key], f.hook
		f.mu.Unlock()
		if fs[2] == "v" { // a read with the value
			if cas == 0 {
				nc.Write([]byte("EN\r\n"))
				continue
			}
			v := key + "@" + strconv.FormatUint(cas, 10)
			nc.Write([]byte("VA " + strconv.Itoa(len(v)) + " c" + strconv.FormatUint(cas, 10) + "\r\n" + v + "\r\n"))
			continue
		}
		nth++
		answer := "HD c" + strconv.FormatUint(cas, 10)
		if cas == 0 {
			answer = "EN"
		}
		if hook != nil {
			answer = hook(key, nth, cas)
			if answer == "" {
				return
			}
		}
		nc.Write([]byte(answer + "\r\n"))
	}
}

// hotFakeClient returns a client with the hot tier on the fake node, and
// the client's node.
func hotFakeClient(t *testing.T, f *metaFake, timeout time.Duration) (*Client, *node) {
	c := newTestClient(t)
	c.HotBytes = 1 << 20
	c.Timeout = timeout
	c.SetLayout(1, []NodeInfo{{ID: "fake", Addr: f.ln.Addr().String()}})
	return c, c.lay.Load().owner("k0")
}

// waitPending waits until n validations wait for the batch in flight.
func waitPending(t *testing.T, nd *node, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		nd.valMu.Lock()
		got := len(nd.valPending)
		nd.valMu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d validations pending, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// behindFirstBatch starts get(0), waits until its batch is sent (the
// fake node's hook closes sent and holds the answer until release), starts
// get(1..readers-1), which queue for the next batch, and releases the
// answer once they all wait.
func behindFirstBatch(t *testing.T, nd *node, readers int, get func(int), sent, release chan struct{}) {
	t.Helper()
	go get(0)
	<-sent
	for i := 1; i < readers; i++ {
		go get(i)
	}
	waitPending(t, nd, readers-1)
	close(release)
}

// TestHot_JoinAfterSent: a read that begins while a batch holding a
// validation of the same key is already sent must not take that batch's
// answer: its own mg goes in the next batch, and sees the write made
// before it began.
func TestHot_JoinAfterSent(t *testing.T) {
	f := startMetaFake(t)
	f.setCAS("k0", 1)
	c, nd := hotFakeClient(t, f, 5*time.Second)
	ctx := context.Background()
	mustGet(t, c, "k0", "k0@1") // kept in the hot tier

	sent, release := make(chan struct{}), make(chan struct{})
	f.mu.Lock()
	f.hook = func(key string, nth int, cas uint64) string {
		if nth == 1 {
			close(sent)
			<-release // the batch is sent; its answer waits
		}
		return "HD c" + strconv.FormatUint(cas, 10)
	}
	f.mu.Unlock()

	first := getAsync(ctx, c, "k0")
	<-sent
	f.setCAS("k0", 2) // another replica writes, after the first mg was read
	second := getAsync(ctx, c, "k0")
	waitPending(t, nd, 1)
	close(release)
	if got := <-first; got != "k0@1" && got != "k0@2" {
		t.Errorf("first read: %q", got)
	}
	if got := <-second; got != "k0@2" {
		t.Errorf("a read begun after the write got %q, want k0@2", got)
	}
}

// TestHot_BrokenMidBatch: the node answers the first validations
// of a batch and closes the connection. The readers answered get their
// own keys' values; the rest are misses with an error; every lookup is
// counted once; and the broken connection counts as one failure of the
// node, whichever validation of the batch it broke at.
func TestHot_BrokenMidBatch(t *testing.T) {
	const readers = 8
	f := startMetaFake(t)
	keys := make([]string, readers)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
		f.setCAS(keys[i], uint64(10+i))
	}
	c, nd := hotFakeClient(t, f, 5*time.Second)
	ctx := context.Background()
	for _, k := range keys {
		f.mu.Lock()
		want := k + "@" + strconv.FormatUint(f.cas[k], 10)
		f.mu.Unlock()
		mustGet(t, c, k, want)
	}
	before := c.Counters()

	sent, release := make(chan struct{}), make(chan struct{})
	f.mu.Lock()
	f.hook = func(key string, nth int, cas uint64) string {
		switch nth {
		case 1: // the first batch: one validation, held until the rest wait
			close(sent)
			<-release
		case 2: // the second batch: its first validation answered...
		default: // ...then the connection breaks
			return ""
		}
		return "HD c" + strconv.FormatUint(cas, 10)
	}
	f.mu.Unlock()

	type result struct {
		i   int
		v   string
		err error
	}
	results := make(chan result, readers)
	get := func(i int) {
		v, err := c.Get(ctx, keys[i])
		results <- result{i, string(v), err}
	}
	behindFirstBatch(t, nd, readers, get, sent, release)
	hits, errs := 0, 0
	for range readers {
		select {
		case r := <-results:
			switch {
			case r.err == nil:
				hits++
				if want := keys[r.i] + "@" + strconv.Itoa(10+r.i); r.v != want {
					t.Errorf("reader of %s got %q", keys[r.i], r.v)
				}
			case errors.Is(r.err, pixpool.ErrCacheMiss):
				t.Errorf("reader of %s: a miss without the error", keys[r.i])
			default:
				errs++
			}
		case <-time.After(10 * time.Second):
			t.Fatal("readers still waiting after 10 s")
		}
	}
	if hits != 2 || errs != readers-2 {
		t.Errorf("%d hits and %d errors; want 2 and %d", hits, errs, readers-2)
	}
	after := c.Counters()
	if got := after.Hits + after.Misses - before.Hits - before.Misses; got != readers {
		t.Errorf("%d lookups counted for %d reads", got, readers)
	}
	if got := after.Misses - before.Misses; got != readers-2 {
		t.Errorf("%d misses counted, want %d", got, readers-2)
	}
	if got := after.Failures - before.Failures; got != 1 {
		t.Errorf("one broken connection counted as %d failures of the node, want 1", got)
	}
}

// TestHot_Stall: a node that reads the validations and never
// answers: every reader gets an error within a few timeouts, no batch
// is left busy, and no goroutine is left behind.
func TestHot_Stall(t *testing.T) {
	const readers = 16
	f := startMetaFake(t)
	for i := range readers {
		f.setCAS("k"+strconv.Itoa(i), 5)
	}
	timeout := 200 * time.Millisecond
	c, nd := hotFakeClient(t, f, timeout)
	c.FailAfter = 1000 // keep the node up: every read goes to it
	ctx := context.Background()
	for i := range readers {
		k := "k" + strconv.Itoa(i)
		mustGet(t, c, k, k+"@5")
	}
	stalled := make(chan struct{})
	f.mu.Lock()
	f.hook = func(string, int, uint64) string { <-stalled; return "" }
	f.mu.Unlock()
	goroutines := runtime.NumGoroutine()

	start := time.Now()
	var wg sync.WaitGroup
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := c.Get(ctx, "k"+strconv.Itoa(i)); err == nil {
				t.Errorf("read from a stalled node = %q", v)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * timeout):
		t.Fatalf("readers still waiting after %v", 20*timeout)
	}
	t.Logf("all %d readers answered in %v", readers, time.Since(start))
	close(stalled)
	nd.valMu.Lock()
	busy, pending := nd.valBusy, len(nd.valPending)
	nd.valMu.Unlock()
	if busy || pending != 0 {
		t.Errorf("after the readers: busy %v, %d pending", busy, pending)
	}
	if got := c.Counters(); got.Hits+got.Misses != 2*readers || got.HotHits != 0 {
		t.Errorf("Counters=%+v, want %d lookups and no hot hit", got, 2*readers)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines, %d before the reads", n, goroutines)
	}
}

// TestHot_LargeBatch: a batch larger than one write (maxBatchWrite)
// is sent in parts; every reader still gets its own key's answer.
func TestHot_LargeBatch(t *testing.T) {
	const readers = 300
	f := startMetaFake(t)
	keys := make([]string, readers)
	for i := range keys {
		keys[i] = strings.Repeat("x", 200) + strconv.Itoa(i)
		f.setCAS(keys[i], uint64(1000+i))
	}
	c, nd := hotFakeClient(t, f, 5*time.Second)
	ctx := context.Background()
	for i, k := range keys {
		mustGet(t, c, k, k+"@"+strconv.Itoa(1000+i))
	}
	sent, release := make(chan struct{}), make(chan struct{})
	f.mu.Lock()
	f.hook = func(key string, nth int, cas uint64) string {
		if nth == 1 {
			close(sent)
			<-release
		}
		return "HD c" + strconv.FormatUint(cas, 10)
	}
	f.mu.Unlock()
	before := c.Counters()
	var wg sync.WaitGroup
	get := func(i int) {
		defer wg.Done()
		v, err := c.Get(ctx, keys[i])
		if want := keys[i] + "@" + strconv.Itoa(1000+i); err != nil || string(v) != want {
			t.Errorf("Get(%s)=%q, %v", keys[i], v, err)
		}
	}
	wg.Add(readers)
	behindFirstBatch(t, nd, readers, get, sent, release)
	wg.Wait()
	if got := c.Counters().HotHits - before.HotHits; got != readers {
		t.Errorf("%d hot hits, want %d", got, readers)
	}
}

// getAsync reads key in a goroutine and sends its value, or its error's
// text, on the returned channel.
func getAsync(ctx context.Context, c *Client, key string) <-chan string {
	out := make(chan string, 1)
	go func() {
		v, err := c.Get(ctx, key)
		if err != nil {
			out <- err.Error()
			return
		}
		out <- string(v)
	}()
	return out
}
