package manager

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/pool"
	"github.com/pixpool/pixpool/store/sqlite"
)

// TestMain lets the local provider run this test binary as a cache node.
func TestMain(m *testing.M) {
	pixpooltest.RunCacheNodeIfAsked()
	os.Exit(m.Run())
}

func openStore(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newManager(t *testing.T, st pixpool.Store) *Manager {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	m := &Manager{
		Store:    st,
		Pool:     &pool.Client{Logger: quiet, ProbeEvery: 20 * time.Millisecond},
		Provider: &LocalProvider{Logger: quiet},
		Logger:   quiet,
		Nodes:    2, CapacityMB: 8,
	}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); m.Pool.Close() })
	return m
}

func TestManager_Lifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	m := newManager(t, st)
	if got := m.Size(); got != 2 {
		t.Fatalf("Size()=%d, want 2", got)
	}
	for _, ns := range m.Pool.Stats(ctx) {
		if !ns.Up || ns.Capacity != 8<<20 || ns.Policy != "lru" {
			t.Fatalf("node %+v", ns)
		}
	}

	t.Run("Resize", func(t *testing.T) {
		for _, n := range []int{3, 1, 2} {
			if _, err := m.Resize(ctx, n, "test"); err != nil {
				t.Fatal(err)
			}
			if got := len(m.Pool.Stats(ctx)); got != n || m.Size() != n {
				t.Fatalf("after Resize(%d): %d nodes answer, Size()=%d", n, got, m.Size())
			}
		}
		for _, bad := range []int{0, -1, 9} {
			if _, err := m.Resize(ctx, bad, "test"); pixpool.ErrorCode(err) != pixpool.EINVALID {
				t.Fatalf("Resize(%d)=%v, want invalid", bad, err)
			}
		}
		if h := m.State().Resizes; len(h) != 3 || h[1].From != 3 || h[1].To != 1 || h[1].Reason != "test" {
			t.Fatalf("history %+v", h)
		}
	})

	t.Run("Settings", func(t *testing.T) {
		if err := m.SetCapacity(ctx, 4); err != nil {
			t.Fatal(err)
		}
		if err := m.SetPolicy(ctx, "RR"); err != nil {
			t.Fatal(err)
		}
		if err := m.SetPolicy(ctx, "fifo"); pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Fatalf("SetPolicy(fifo)=%v", err)
		}
		if err := m.SetCapacity(ctx, 0); pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Fatalf("SetCapacity(0)=%v", err)
		}
		// A new node starts with the latest settings.
		if _, err := m.Resize(ctx, 3, "test"); err != nil {
			t.Fatal(err)
		}
		for _, ns := range m.Pool.Stats(ctx) {
			if ns.Capacity != 4<<20 || ns.Policy != "rr" {
				t.Fatalf("node %s: %d bytes, %s", ns.ID, ns.Capacity, ns.Policy)
			}
		}
	})

	t.Run("Restart", func(t *testing.T) {
		before := m.State()
		victim := before.Nodes[1]
		if err := m.Provider.(*LocalProvider).Kill(victim.ID); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for m.State().Nodes[1].Addr == victim.Addr {
			if time.Now().After(deadline) {
				t.Fatal("node not restarted")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := m.State().Nodes[1].ID; got != victim.ID {
			t.Fatalf("restarted as %s, want the same id %s", got, victim.ID)
		}
	})

	t.Run("Requests", func(t *testing.T) {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go m.Watch(wctx, 20*time.Millisecond)
		actx, acancel := context.WithTimeout(ctx, 30*time.Second)
		defer acancel()
		res, err := Ask(actx, st, "resize", "2")
		if err != nil || len(res.State.Nodes) != 2 {
			t.Fatalf("Ask(resize 2)=%+v, %v", res, err)
		}
		if _, err := Ask(actx, st, "resize", "nine"); err == nil || !strings.Contains(err.Error(), "number") {
			t.Fatalf("Ask(resize nine)=%v", err)
		}
		if _, err := Ask(actx, st, "shuffle", ""); err == nil {
			t.Fatal("unknown op accepted")
		}
	})

	// The state survives: a new manager on the same store starts the same
	// node ids with the same settings.
	want := m.State()
	m.Close()
	m2 := newManager(t, st)
	got := m2.State()
	if len(got.Nodes) != len(want.Nodes) || got.CapacityMB != 4 || got.Policy != "rr" || got.Epoch <= want.Epoch {
		t.Fatalf("state after reopen %+v, before %+v", got, want)
	}
	for i := range got.Nodes {
		if got.Nodes[i].ID != want.Nodes[i].ID {
			t.Fatalf("node ids changed: %v -> %v", want.Nodes, got.Nodes)
		}
	}
}

func TestManager_Static(t *testing.T) {
	ctx := context.Background()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &cache.Server{Store: cache.NewStore(cache.StoreConfig{})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	quiet := slog.New(slog.DiscardHandler)
	m := &Manager{Store: openStore(t, t.TempDir()), Pool: &pool.Client{Logger: quiet}, Static: []string{ln.Addr().String()}, Logger: quiet, CapacityMB: 16}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Pool.Close()
	if _, err := m.Resize(ctx, 2, "test"); err == nil || !strings.Contains(pixpool.ErrorMessage(err), "--cache-nodes") {
		t.Fatalf("Resize of a static pool=%v", err)
	}
	if st := m.Pool.Stats(ctx); len(st) != 1 || st[0].Capacity != 16<<20 {
		t.Fatalf("static node stats %+v", st)
	}
}

// TestManager_Secret: a new pool gets a random secret in the store, kept
// across restarts; its nodes require it and the pool client has it.
func TestManager_Secret(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	m := newManager(t, st)
	secret, err := st.Setting(ctx, SecretSetting)
	if err != nil || len(secret) < 32 {
		t.Fatalf("secret %q, %v", secret, err)
	}
	if err := m.Pool.Set(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := m.Pool.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get=%q, %v", v, err)
	}
	nc, err := net.Dial("tcp", m.State().Nodes[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	nc.Write([]byte("stats\r\n"))
	if line, _ := bufio.NewReader(nc).ReadString('\n'); line != "CLIENT_ERROR unauthenticated\r\n" {
		t.Fatalf("stats without the secret: %q", line)
	}
	m.Close()
	m2 := newManager(t, st)
	if again, _ := st.Setting(ctx, SecretSetting); again != secret || m2.secret != secret {
		t.Fatalf("secret changed across a restart")
	}
}

// TestManager_MaxPool: a capacity or a size that would make the nodes
// together need more than MaxPoolMB (serve sets the machine's memory) is
// refused as invalid, before any node is asked; the auto-scaler grows
// only as far as it fits.
func TestManager_MaxPool(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, openStore(t, t.TempDir()))
	m.MaxPoolMB = 100
	if err := m.SetCapacity(ctx, 101); pixpool.ErrorCode(err) != pixpool.EINVALID {
		t.Fatalf("SetCapacity(101)=%v, want EINVALID", err)
	}
	if err := m.SetCapacity(ctx, 40); err != nil {
		t.Fatalf("SetCapacity(40)=%v", err)
	}
	if _, err := m.Resize(ctx, 3, "manual"); pixpool.ErrorCode(err) != pixpool.EINVALID {
		t.Fatalf("Resize(3) of 40 MB nodes=%v, want EINVALID (120 MB > 100)", err)
	}
	if _, err := m.Resize(ctx, 2, "manual"); err != nil {
		t.Fatalf("Resize(2)=%v", err)
	}
	if err := m.SetCapacity(ctx, 60); pixpool.ErrorCode(err) != pixpool.EINVALID {
		t.Fatalf("SetCapacity(60) of 2 nodes=%v, want EINVALID", err)
	}
	if err := (scalable{m}).Resize(ctx, 4, "auto"); err != nil || m.Size() != 2 {
		t.Fatalf("auto-scaler's Resize(4)=%v, size %d; want no error and 2 nodes (as many as fit)", err, m.Size())
	}
}

func TestManager_AfterRestore(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, openStore(t, t.TempDir()))
	p := m.State().Auto
	p.MaxNodes = 4
	b, err := json.Marshal(State{CapacityMB: 16, Policy: "rr", Mode: ModeManual, Auto: p})
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{pixpool.PoolStateSetting: string(b)}
	if err := m.AfterRestore(ctx, settings); err != nil {
		t.Fatal(err)
	}
	if st := m.State(); st.CapacityMB != 16 || st.Policy != "rr" || st.Mode != ModeManual || st.Auto != p || len(st.Nodes) != 2 {
		t.Fatalf("state after restore %+v", st)
	}
	err = m.AfterRestore(ctx, map[string]string{pixpool.PoolStateSetting: "{"})
	if err == nil || !strings.Contains(err.Error(), "The backup's cache pool configuration could not be read") {
		t.Fatalf("unreadable pool state: %v", err)
	}
}
