package kube_test

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/manager/kube"
	"github.com/pixpool/pixpool/manager/kube/kubetest"
	"github.com/pixpool/pixpool/pixpooltest"
)

// TestMain lets the fake kubelet run this test binary as a cache node.
func TestMain(m *testing.M) {
	pixpooltest.RunCacheNodeIfAsked()
	os.Exit(m.Run())
}

// writeKeys stores keys and returns them.
func writeKeys(t *testing.T, m *manager.Manager, prefix string, n int) map[string]string {
	t.Helper()
	kv := make(map[string]string)
	for i := range n {
		k, v := prefix+strconv.Itoa(i), "value of "+prefix+strconv.Itoa(i)
		if err := m.Pool.Set(t.Context(), k, []byte(v)); err != nil {
			t.Fatal(err)
		}
		kv[k] = v
	}
	return kv
}

// checkKeys reads every key from its owner in the current layout.
func checkKeys(t *testing.T, m *manager.Manager, kv map[string]string) {
	t.Helper()
	missing := 0
	for k, v := range kv {
		got, err := m.Pool.Get(t.Context(), k)
		if err != nil || string(got) != v {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d keys lost after the resize", missing, len(kv))
	}
}

// TestProvider_Resize scales 1 → 4 → 2 through the manager, as the portal
// does, under the rights of rbac.yaml only, and keeps every key.
func TestProvider_Resize(t *testing.T) {
	c := kubetest.New(t)
	m := c.NewManager(1)
	c.CheckLayout(m, 1)
	kv := writeKeys(t, m, "a", 200)
	for _, n := range []int{4, 2} {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		rep, err := m.Resize(ctx, n, "manual")
		cancel()
		if err != nil {
			t.Fatalf("Resize(%d): %v", n, err)
		}
		c.CheckLayout(m, n)
		if rep.Moved == 0 {
			t.Errorf("Resize(%d) moved no keys", n)
		}
		checkKeys(t, m, kv)
		// Read-your-writes under the new layout.
		maps := writeKeys(t, m, "n"+strconv.Itoa(n)+"-", 20)
		checkKeys(t, m, maps)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Running() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d pods run, want 2", c.Running())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProvider_Autoscale lets the auto-scaler grow the pool 1 → 4 on a high
// miss rate and shrink it to 2 on a low one.
func TestProvider_Autoscale(t *testing.T) {
	c := kubetest.New(t)
	m := c.NewManager(1)
	kv := writeKeys(t, m, "k", 100)
	p := autoscale.Params{MaxMiss: 0.5, MinMiss: 0.1, Expand: 4, Shrink: 0.5, MinNodes: 1, MaxNodes: 4}
	if err := m.SetMode(t.Context(), manager.ModeAuto, p); err != nil {
		t.Fatal(err)
	}
	s := m.Scaler()
	for _, step := range []struct {
		stats autoscale.Stats
		want  int
	}{{autoscale.Stats{Lookups: 100, Misses: 90}, 4}, {autoscale.Stats{Lookups: 100, Misses: 1}, 2}} {
		s.Window = func(context.Context, time.Time, time.Time) (autoscale.Stats, error) { return step.stats, nil }
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		got := s.Step(ctx)
		cancel()
		if got != step.want {
			t.Fatalf("miss rate %.2f: the scaler chose %d nodes, want %d", step.stats.MissRate(), got, step.want)
		}
		c.CheckLayout(m, step.want)
		checkKeys(t, m, kv)
	}
	if h := m.State().Resizes; len(h) != 2 || !strings.HasPrefix(h[0].Reason, "auto") || h[1].To != 2 {
		t.Fatalf("history %+v", h)
	}
}

// TestProvider_NodeGone: a pod that goes away is handled like a dead local
// node: the manager waits for the StatefulSet's new pod and takes it up,
// under the same id, at its new address.
func TestProvider_NodeGone(t *testing.T) {
	c := kubetest.New(t)
	m := c.NewManager(2)
	c.CheckLayout(m, 2)
	before := m.State().Nodes[1]
	c.Kill(1)
	deadline := time.Now().Add(30 * time.Second)
	for m.State().Nodes[1].Addr == before.Addr {
		if time.Now().After(deadline) {
			t.Fatal("the node whose pod went away was not taken up again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.CheckLayout(m, 2)
	kv := writeKeys(t, m, "after", 20)
	checkKeys(t, m, kv)
}

// TestProvider_Rights: rbac.yaml's ServiceAccount may not do more than the
// provider needs.
func TestProvider_Rights(t *testing.T) {
	c := kubetest.New(t)
	web := c.WebClient()
	ctx := t.Context()
	for what, call := range map[string]func() error{
		"delete pods": func() error {
			return web.CoreV1().Pods(c.NS).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		},
		"read secrets": func() error {
			_, err := web.CoreV1().Secrets(c.NS).List(ctx, metav1.ListOptions{})
			return err
		},
		"update the StatefulSet": func() error {
			sts, err := c.Admin.AppsV1().StatefulSets(c.NS).Get(ctx, kube.DefaultStatefulSet, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = web.AppsV1().StatefulSets(c.NS).Update(ctx, sts, metav1.UpdateOptions{})
			return err
		},
		"scale another StatefulSet": func() error {
			_, err := web.AppsV1().StatefulSets(c.NS).GetScale(ctx, "other", metav1.GetOptions{})
			return err
		},
		"list pods elsewhere": func() error {
			_, err := web.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			return err
		},
	} {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want forbidden", what, err)
		}
	}
	// What it needs is allowed.
	if _, err := web.AppsV1().StatefulSets(c.NS).GetScale(ctx, kube.DefaultStatefulSet, metav1.GetOptions{}); err != nil {
		t.Errorf("get scale: %v", err)
	}
}

// TestProvider_TakeOver: a new leader takes up the pods that run, keys and
// all, and stops those past its layout.
func TestProvider_TakeOver(t *testing.T) {
	c := kubetest.New(t)
	first := c.NewManager(3)
	kv := writeKeys(t, first, "k", 50)
	first.Close()
	second := c.NewManager(3)
	c.CheckLayout(second, 3)
	checkKeys(t, second, kv)
	second.Close()
	third := c.NewManager(2) // a new pool (fresh store) of 2
	c.CheckLayout(third, 2)
}

// TestProvider_ResizeTimeoutScalesBack: a grow whose new pod never becomes
// ready fails, and leaves the StatefulSet at the pool's size, not with a
// pending pod past the layout.
func TestProvider_ResizeTimeoutScalesBack(t *testing.T) {
	c := kubetest.New(t)
	m := c.NewManager(1)
	c.Unschedulable(1)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	_, err := m.Resize(ctx, 2, "manual")
	cancel()
	if err == nil {
		t.Fatal("Resize to a pod that never becomes ready succeeded")
	}
	if n := len(m.State().Nodes); n != 1 {
		t.Fatalf("the pool has %d nodes after the failed resize, want 1", n)
	}
	if r := c.Replicas(); r != 1 {
		t.Fatalf("the StatefulSet has %d replicas after the failed resize, want 1 (the pool's size)", r)
	}
}

// TestProvider_LeadsAgainAfterClose: a replica that stepped down (its
// manager closed, and so its provider) can lead again: the manager opens
// again on the same provider and takes up the running pods.
func TestProvider_LeadsAgainAfterClose(t *testing.T) {
	c := kubetest.New(t)
	m := c.NewManager(2)
	kv := writeKeys(t, m, "k", 50)
	m.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := m.Open(ctx); err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	c.CheckLayout(m, 2)
	checkKeys(t, m, kv)
	ctx, cancel = context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if _, err := m.Resize(ctx, 3, "manual"); err != nil {
		t.Fatalf("Resize after leading again: %v", err)
	}
	c.CheckLayout(m, 3)
}

// TestDialAs_NotInTheServer: the test hook that redirects the nodes'
// addresses (kube.DialAs, set by kubetest) is out of reach of the pixpool
// binary: no flag or variable sets it, and nothing it links calls it.
func TestDialAs_NotInTheServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", "github.com/pixpool/pixpool/cmd/pixpool").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for pkg := range strings.FieldsSeq(string(out)) {
		if strings.HasSuffix(pkg, "/kubetest") || strings.HasSuffix(pkg, "/pixpooltest") {
			t.Errorf("the pixpool binary links %s, a test package", pkg)
		}
	}
}

// TestProvider_CloseEndsTheWatches: Close returns once the provider's
// informers have ended: a replica that steps down leaves no watch behind.
func TestProvider_CloseEndsTheWatches(t *testing.T) {
	c := kubetest.New(t)
	p, err := kube.NewForClient(t.Context(), c.WebClient(), c.NS, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := informerGoroutines(); n == 0 {
		t.Fatal("no informer goroutine found while the provider watches: the test no longer sees them")
	}
	p.Close()
	if n := informerGoroutines(); n != 0 {
		t.Fatalf("%d informer goroutines run after Close", n)
	}
}

// informerGoroutines counts the goroutines running client-go informers.
func informerGoroutines() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "k8s.io/client-go/tools/cache.(*sharedIndexInformer).Run") ||
			strings.Contains(g, "k8s.io/client-go/tools/cache.(*Reflector)") {
			n++
		}
	}
	return n
}
