package cache_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool/cache"
)

const (
	testUser     = "pixpool"
	testPassword = "0123456789abcdef0123456789abcdef"
)

// authLine is the authentication command memcached -Y takes.
func authLine(user, pass string) string {
	return fmt.Sprintf("set auth 0 0 %d\r\n%s %s\r\n", len(user)+1+len(pass), user, pass)
}

func TestServer_Auth(t *testing.T) {
	// Our node with credentials and memcached -Y with the same file answer
	// alike: nothing runs before the right secret (issue 11, item 12).
	file := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(file, []byte(testUser+":"+testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := cache.ReadAuthFile(file)
	if err != nil {
		t.Fatal(err)
	}
	targets := []struct {
		name  string
		start starter
	}{
		{"pixpool", func(t testing.TB) *target {
			return startNodeWith(t, &cache.Server{Store: cache.NewStore(cache.StoreConfig{}), Credentials: creds})
		}},
		{"memcached", func(t testing.TB) *target { return startMemcachedWith(t, "-Y", file) }},
	}
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg := tt.start(t)
			owner := dial(t, tg)
			owner.do(authLine(testUser, testPassword), "STORED")
			owner.do("set private 0 0 6\r\nsecret\r\n", "STORED")

			t.Run("Unauthenticated", func(t *testing.T) {
				c := dial(t, tg)
				for _, cmd := range []string{"get private", "gets private", "lru_crawler metadump all", "stats",
					"delete private", "flush_all", "mg private v", "mg private c", "mn", "cache_memlimit 1", "version", "bogus", "add k 0 0 1"} {
					c.do(cmd+"\r\n", "CLIENT_ERROR unauthenticated")
				}
				owner.do("get private\r\n", "VALUE private 0 6", "secret", "END")
			})
			t.Run("WrongPassword", func(t *testing.T) {
				c := dial(t, tg)
				c.do(authLine(testUser, "wrong"), "CLIENT_ERROR authentication failure")
				c.do(authLine("other", testPassword), "CLIENT_ERROR authentication failure")
				c.do(authLine(testUser, testPassword+"x"), "CLIENT_ERROR authentication failure")
				c.do("set auth 0 0 5\r\nnopwd\r\n", "CLIENT_ERROR bad authentication token format")
				c.do("get private\r\n", "CLIENT_ERROR unauthenticated")
			})
			t.Run("RightSecret", func(t *testing.T) {
				c := dial(t, tg)
				c.do(authLine(testUser, testPassword), "STORED")
				c.do("get private auth\r\n", "VALUE private 0 6", "secret", "END")
				c.send("lru_crawler metadump all\r\n")
				if l := c.line(); !strings.HasPrefix(l, "key=") && l != "END\r\n" {
					t.Fatalf("metadump after authentication: %q", l)
				}
			})
			t.Run("ClientWithoutSecret", func(t *testing.T) {
				if _, err := newClient(tg).Get("private"); err == nil {
					t.Fatal("gomemcache without credentials read a value")
				}
			})
			t.Run("Stats", func(t *testing.T) {
				c := dial(t, tg)
				c.do(authLine(testUser, testPassword), "STORED")
				if m := c.stats(""); m["auth_cmds"] == "0" || m["auth_errors"] == "0" {
					t.Fatalf("auth_cmds=%s auth_errors=%s", m["auth_cmds"], m["auth_errors"])
				}
			})
		})
	}
}

func TestServer_AuthOurs(t *testing.T) {
	// Deliberate differences: quit closes, an over-long data block closes
	// at once (memcached would buffer it).
	tg := startNodeWith(t, &cache.Server{Credentials: []cache.Credential{{User: testUser, Password: testPassword}}})
	c := dial(t, tg)
	c.send("quit\r\n")
	c.expectClosed()
	c = dial(t, tg)
	c.send("set auth 0 0 100000000\r\n" + strings.Repeat("x", 1000))
	c.expect("CLIENT_ERROR bad authentication token format")
	c.expectClosed()
	d := dial(t, tg)
	d.do(authLine(testUser, testPassword), "STORED")
	if m := d.stats("settings"); m["auth_enabled_ascii"] != "yes" {
		t.Fatalf("auth_enabled_ascii=%q", m["auth_enabled_ascii"])
	}
}

func TestParseAuthFile(t *testing.T) {
	tests := []struct {
		in   string
		want []cache.Credential
		err  bool
	}{
		{in: "a:b\n", want: []cache.Credential{{"a", "b"}}},
		{in: "a:b:c\r\n\nd:e", want: []cache.Credential{{"a", "b:c"}, {"d", "e"}}},
		{in: "", err: true},
		{in: "ab\n", err: true},
		{in: ":b\n", err: true},
		{in: "a:\n", err: true},
		{in: "a:b c\n", err: true},
	}
	for _, tt := range tests {
		got, err := cache.ParseAuthFile([]byte(tt.in))
		if (err != nil) != tt.err || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("ParseAuthFile(%q)=%v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestServer_StalledSets(t *testing.T) {
	// Connections that declare a 16 MB value and stall do not make the node
	// allocate 16 MB each: buffers grow as the bytes arrive (item 12).
	const conns, declared = 20, 16<<20 - 1<<10
	tg := startNodeWith(t, &cache.Server{Store: cache.NewStore(cache.StoreConfig{Capacity: 1 << 30})})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range conns {
		c := dial(t, tg)
		c.send(fmt.Sprintf("set stalled%d 0 0 %d\r\n%s", i, declared, strings.Repeat("v", 1000)))
	}
	// Once every connection waits inside the set for the rest of its value,
	// its buffer has been allocated.
	for deadline := time.Now().Add(10 * time.Second); countStacks("cache.(*conn).update(") < conns; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections reading their value", countStacks("cache.(*conn).update("), conns)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(conns)<<20; got > limit {
		t.Fatalf("%d stalled sets allocated %d MB, want under %d MB", conns, got>>20, limit>>20)
	}
}

// countStacks counts the goroutines whose stack holds fn.
func countStacks(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), fn)
}

func TestServer_MemlimitMachine(t *testing.T) {
	// cache_memlimit cannot promise more memory than the machine has.
	tg := startNodeWith(t, &cache.Server{MaxCapacity: 512 << 20})
	c := dial(t, tg)
	c.do("cache_memlimit 1000000000\r\n", "CLIENT_ERROR memory limit of 1000000000 MB is more than this machine's memory (512 MB)")
	c.do("cache_memlimit 513\r\n", "CLIENT_ERROR memory limit of 513 MB is more than this machine's memory (512 MB)")
	c.do("cache_memlimit 512\r\n", "OK")
	if mem := cache.MachineMemory(); mem > 0 && mem < 1000000000<<20 {
		// By default the bound is the machine's memory.
		d := dial(t, startNodeWith(t, &cache.Server{}))
		d.send("cache_memlimit 1000000000\r\n")
		if l := d.line(); !strings.HasPrefix(l, "CLIENT_ERROR memory limit") {
			t.Fatalf("cache_memlimit 1000000000: %q", l)
		}
	}
}

func TestServer_DefaultIdleTimeout(t *testing.T) {
	c := dial(t, startNodeWith(t, &cache.Server{}))
	if m := c.stats("settings"); m["idle_timeout"] != fmt.Sprint(int(cache.DefaultIdleTimeout/time.Second)) {
		t.Fatalf("idle_timeout=%s, want %v", m["idle_timeout"], cache.DefaultIdleTimeout)
	}
	c = dial(t, startNodeWith(t, &cache.Server{IdleTimeout: -1}))
	if m := c.stats("settings"); m["idle_timeout"] != "0" {
		t.Fatalf("idle_timeout=%s with a negative IdleTimeout, want 0", m["idle_timeout"])
	}
}
