package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/pixpool/pixpool/manager/kube/kubetest"
	"github.com/pixpool/pixpool/pool"
)

// TestServe_KubernetesProvider runs serve with --cache-provider kubernetes
// under the ServiceAccount of deploy/kubernetes/rbac.yaml and resizes the
// pool 1 → 4 → 2 through the admin API, keys kept.
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
		for k, v := range kv {
			if got, err := s.Pool.Get(t.Context(), k); err != nil || string(got) != v {
				t.Fatalf("after resizing to %d: %s = %q, %v", n, k, got, err)
			}
		}
	}
}
