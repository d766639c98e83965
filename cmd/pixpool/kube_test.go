package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/manager/kube/kubetest"
	"github.com/pixpool/pixpool/pool"
)

// TestServe_KubernetesProvider runs serve with --cache-provider kubernetes
// under the ServiceAccount of deploy/kubernetes/rbac.yaml and resizes the
// pool 1 → 4 → 2 through the admin API, then 2 → 4 → 2 by the auto-scaler,
// keys kept.
func TestServe_KubernetesProvider(t *testing.T) {
	c := kubetest.New(t)
	t.Setenv(cacheAuthEnv, pool.DefaultUser+":"+kubetest.Password)
	s := startServer(t, Config{
		CacheSize: 1, CacheCapacity: 8,
		kubeConfig: kubeConfig{CacheProvider: "kubernetes", Kubeconfig: c.WebKubeconfig(), KubeNamespace: c.NS},
	})
	c.CheckLayout(s.Manager, 1)
	admin := &client{t, s.url, newUser(t, s, "boss", true)}
	kv := map[string]string{}
	for i := range 100 {
		k := "key" + strconv.Itoa(i)
		kv[k] = "value " + k
		if err := s.Pool.Set(t.Context(), k, []byte(kv[k])); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{4, 2} {
		b := expect(t, admin.do("PUT", "/api/v1/admin/pool/size", strings.NewReader(`{"nodes":`+strconv.Itoa(n)+`}`), "Content-Type", "application/json"), 200)
		var rep struct{ Size, Moved int }
		if err := json.Unmarshal(b, &rep); err != nil || rep.Size != n || rep.Moved == 0 {
			t.Fatalf("resize to %d: %s", n, b)
		}
		c.CheckLayout(s.Manager, n)
		checkPoolKeys(t, s, kv, n)
	}

	// The auto-scaler, switched on through the API, grows the pool on a
	// high miss rate and shrinks it on a low one.
	expect(t, admin.do("PUT", "/api/v1/admin/pool/mode", strings.NewReader(`{"mode":"auto","expand":2,"shrink":0.5,"min_nodes":1,"max_nodes":4,"cooldown_seconds":0}`), "Content-Type", "application/json"), 200)
	sc := *s.Scaler // its own Window: the server's scaler may run meanwhile
	for _, step := range []struct {
		misses int64
		want   int
	}{{90, 4}, {1, 2}} {
		sc.Window = func(context.Context, time.Time, time.Time) (autoscale.Stats, error) {
			return autoscale.Stats{Lookups: 100, Misses: step.misses}, nil
		}
		if got := sc.Step(t.Context()); got != step.want {
			t.Fatalf("%d%% misses: the scaler chose %d nodes, want %d", step.misses, got, step.want)
		}
		c.CheckLayout(s.Manager, step.want)
		checkPoolKeys(t, s, kv, step.want)
	}
}

// checkPoolKeys reads every key of kv back after a resize to n nodes.
func checkPoolKeys(t *testing.T, s *server, kv map[string]string, n int) {
	t.Helper()
	for k, v := range kv {
		if got, err := s.Pool.Get(t.Context(), k); err != nil || string(got) != v {
			t.Fatalf("after resizing to %d: %s = %q, %v", n, k, got, err)
		}
	}
}
