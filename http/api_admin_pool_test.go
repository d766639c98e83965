package http

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
)

// poolJSON decodes GET /api/v1/admin/pool.
type poolJSON struct {
	Mode       string
	Auto       autoParamsJSON
	CapacityMB int `json:"capacity_mb"`
	Policy     string
	Size       int
	MaxSize    int `json:"max_size"`
	Resizable  bool
	Nodes      []struct {
		ID, Addr, Policy string
		Up               bool
		Items, Capacity  int64
		HitRate          float64 `json:"hit_rate"`
	}
	Resizes []struct {
		From, To int
		Reason   string
	}
}

func TestAdminAPI_Pool(t *testing.T) {
	ctx := context.Background()
	f := newPoolFixture(t, fixtureConfig{pool: localPool})
	m := f.mgr

	var p poolJSON
	f.call("GET", "/api/v1/admin/pool", "", 200, &p)
	if p.Mode != "manual" || p.Size != 1 || p.MaxSize != 8 || !p.Resizable || p.CapacityMB != 8 || p.Policy != "lru" ||
		len(p.Nodes) != 1 || !p.Nodes[0].Up || p.Nodes[0].Capacity != 8<<20 || len(p.Resizes) != 0 {
		t.Fatalf("pool %+v", p)
	}
	if want := toAutoParamsJSON(autoscale.DefaultParams); p.Auto != want {
		t.Fatalf("auto %+v, want %+v", p.Auto, want)
	}

	t.Run("Size", func(t *testing.T) {
		var rep struct{ From, To, Size int }
		f.call("PUT", "/api/v1/admin/pool/size", `{"nodes":3}`, 200, &rep)
		// The answer comes after the resize: the pool has its new size.
		if got := m.Size(); got != 3 || rep.From != 1 || rep.To != 3 || rep.Size != 3 {
			t.Fatalf("report %+v, Size()=%d", rep, got)
		}
		for _, ns := range m.Stats(ctx) {
			if !ns.Up {
				t.Fatalf("node %s down after the resize", ns.ID)
			}
		}
		for _, body := range []string{`{"nodes":0}`, `{"nodes":9}`, `{"nodes":-1}`, `{}`, `{"nodes":"two"}`, `{"size":2}`} {
			b := f.call("PUT", "/api/v1/admin/pool/size", body, 400, nil)
			wantAPIError(t, b, pixpool.EINVALID)
		}
		f.call("GET", "/api/v1/admin/pool", "", 200, &p)
		if p.Size != 3 || len(p.Nodes) != 3 || len(p.Resizes) != 1 || p.Resizes[0].From != 1 || p.Resizes[0].To != 3 || p.Resizes[0].Reason != "manual" {
			t.Fatalf("pool after resize %+v", p)
		}
	})

	t.Run("Mode", func(t *testing.T) {
		f.call("PUT", "/api/v1/admin/pool/mode", `{"mode":"auto","max_miss":0.7,"cooldown_seconds":5}`, 200, &p)
		on, got := m.Auto()
		want := autoscale.DefaultParams
		want.MaxMiss, want.Cooldown = 0.7, 5*time.Second
		if !on || got != want || p.Mode != "auto" || p.Auto != toAutoParamsJSON(want) {
			t.Fatalf("Auto()=%v %+v; answer %+v", on, got, p)
		}
		for _, body := range []string{
			`{"mode":"auto","min_miss":0.9}`, // not below max_miss 0.7
			`{"mode":"auto","expand":1}`,
			`{"mode":"auto","shrink":1}`,
			`{"mode":"auto","min_nodes":3,"max_nodes":2}`,
			`{"mode":"auto","max_nodes":9}`,
			`{"mode":"auto","cooldown_seconds":-1}`,
			`{"mode":"sideways"}`,
			`{"max_miss":0.8}`,
			`{"mode":"manual","colour":"red"}`,
		} {
			b := f.call("PUT", "/api/v1/admin/pool/mode", body, 400, nil)
			wantAPIError(t, b, pixpool.EINVALID)
			if on, got := m.Auto(); !on || got != want {
				t.Fatalf("%s changed the settings to %v %+v", body, on, got)
			}
		}
		f.call("PUT", "/api/v1/admin/pool/mode", `{"mode":"manual"}`, 200, &p)
		if on, got := m.Auto(); on || got != want || p.Mode != "manual" {
			t.Fatalf("after manual: Auto()=%v %+v", on, got)
		}
	})

	t.Run("Cache", func(t *testing.T) {
		var got struct {
			CapacityMB int `json:"capacity_mb"`
			Policy     string
		}
		f.call("PUT", "/api/v1/admin/cache", `{"capacity_mb":4,"policy":"RR"}`, 200, &got)
		if got.CapacityMB != 4 || got.Policy != "rr" {
			t.Fatalf("answer %+v", got)
		}
		for _, ns := range m.Stats(ctx) {
			if ns.Capacity != 4<<20 || ns.Policy != "rr" {
				t.Fatalf("node %s: %d bytes, %s", ns.ID, ns.Capacity, ns.Policy)
			}
		}
		f.call("PUT", "/api/v1/admin/cache", `{"policy":"lru"}`, 200, &got)
		if got.CapacityMB != 4 || got.Policy != "lru" {
			t.Fatalf("answer %+v", got)
		}
		for _, body := range []string{`{"capacity_mb":6,"policy":"fifo"}`, `{"capacity_mb":0}`, `{"capacity_mb":2000000}`, `{"policy":""}`, `{}`} {
			b := f.call("PUT", "/api/v1/admin/cache", body, 400, nil)
			wantAPIError(t, b, pixpool.EINVALID)
		}
		if st := m.State(); st.CapacityMB != 4 || st.Policy != "lru" {
			t.Fatalf("refused changes applied: %d MB, %s", st.CapacityMB, st.Policy)
		}
	})

	t.Run("Clear", func(t *testing.T) {
		for i := range 20 {
			if err := m.Pool.Set(ctx, "k"+strconv.Itoa(i), []byte("value")); err != nil {
				t.Fatal(err)
			}
		}
		f.call("POST", "/api/v1/admin/cache/clear", "", 204, nil)
		for _, ns := range m.Stats(ctx) {
			if ns.Items != 0 {
				t.Fatalf("node %s holds %d items after clearing", ns.ID, ns.Items)
			}
		}
		if _, err := m.Pool.Get(ctx, "k1"); err == nil {
			t.Fatal("a cleared key is still there")
		}
	})
}
