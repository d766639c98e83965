package kube_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/manager/kube"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/pool"
	"github.com/pixpool/pixpool/store/sqlite"
)

// TestMain lets the fake kubelet run this test binary as a cache node.
func TestMain(m *testing.M) {
	pixpooltest.RunCacheNodeIfAsked()
	os.Exit(m.Run())
}

const password = "test-pool-secret"

// testNetAddr stands for 127.0.0.1 in the EndpointSlices (RFC 5737).
const testNetAddr = "192.0.2.1"

func init() { kube.DialAs(testNetAddr, "127.0.0.1") }

// cluster is a namespace of the test control plane with the nodes'
// StatefulSet and headless Service, deploy/kubernetes/rbac.yaml applied,
// and a fake kubelet and endpoint controller: for every replica the
// StatefulSet asks for it runs a local cache node, creates its Pod, marks
// it Ready and lists it in an EndpointSlice; it removes them on scale down.
type cluster struct {
	t      *testing.T
	admin  kubernetes.Interface
	config *rest.Config
	ns     string
	nodes  *manager.LocalProvider // the node processes

	mu   sync.Mutex
	pods map[int]string // ordinal → node address
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	path := pixpooltest.Kube(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	admin := kubernetes.NewForConfigOrDie(cfg)
	ctx := t.Context()
	c := &cluster{
		t: t, admin: admin, config: cfg,
		ns:    "pixpool-" + strings.ToLower(rand.Text()[:10]),
		nodes: &manager.LocalProvider{Logger: slog.New(slog.DiscardHandler)},
		pods:  make(map[int]string),
	}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.nodes.Close()
		admin.CoreV1().Namespaces().Delete(context.Background(), c.ns, metav1.DeleteOptions{})
	})
	c.applyRBAC()
	labels := map[string]string{"app.kubernetes.io/name": "pixpool-cache"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: kube.DefaultStatefulSet},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: labels,
			Ports: []corev1.ServicePort{{Name: kube.PortName, Port: 11211}}},
	}
	if _, err := admin.CoreV1().Services(c.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	zero := int32(0)
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: kube.DefaultStatefulSet},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &zero, ServiceName: kube.DefaultStatefulSet,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       podSpec(),
			},
		},
	}
	if _, err := admin.AppsV1().StatefulSets(c.ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.kubelet(kctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{
		Name: "cachenode", Image: "pixpool", Args: []string{"cachenode"},
		Ports: []corev1.ContainerPort{{Name: kube.PortName, ContainerPort: 11211}},
	}}}
}

// applyRBAC creates the objects of deploy/kubernetes/rbac.yaml.
func (c *cluster) applyRBAC() {
	t := c.t
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for doc := range strings.SplitSeq(string(b), "\n---\n") {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("rbac.yaml: %v", err)
		}
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			_, err = c.admin.CoreV1().ServiceAccounts(c.ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = c.admin.RbacV1().Roles(c.ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			for i := range o.Subjects {
				if o.Subjects[i].Kind == rbacv1.ServiceAccountKind {
					o.Subjects[i].Namespace = c.ns
				}
			}
			_, err = c.admin.RbacV1().RoleBindings(c.ns).Create(ctx, o, metav1.CreateOptions{})
		default:
			err = fmt.Errorf("unexpected %T", obj)
		}
		if err != nil {
			t.Fatalf("rbac.yaml: %v", err)
		}
	}
}

// webClient is a client acting as the ServiceAccount pixpool-web, with a
// token from the TokenRequest API and no other credentials.
func (c *cluster) webClient() kubernetes.Interface {
	t := c.t
	tr, err := c.admin.CoreV1().ServiceAccounts(c.ns).CreateToken(t.Context(), "pixpool-web",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(c.config)
	cfg.BearerToken = tr.Status.Token
	return kubernetes.NewForConfigOrDie(cfg)
}

// kubelet plays kubelet, StatefulSet controller and endpoint controller
// until ctx ends.
func (c *cluster) kubelet(ctx context.Context) {
	for ctx.Err() == nil {
		if err := c.sync(ctx); err != nil && ctx.Err() == nil {
			c.t.Logf("kubelet: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *cluster) sync(ctx context.Context) error {
	s, err := c.admin.AppsV1().StatefulSets(c.ns).GetScale(ctx, kube.DefaultStatefulSet, metav1.GetOptions{})
	if err != nil {
		return err
	}
	want := int(s.Spec.Replicas)
	c.mu.Lock()
	defer c.mu.Unlock()
	for ord := range c.pods {
		if ord >= want {
			if err := c.removePod(ctx, ord); err != nil {
				return err
			}
		}
	}
	for ord := range want { // in order, as a StatefulSet does
		if _, ok := c.pods[ord]; !ok {
			if err := c.addPod(ctx, ord); err != nil {
				return err
			}
		}
	}
	return nil
}

func podName(ord int) string { return kube.DefaultStatefulSet + "-" + strconv.Itoa(ord) }

// addPod runs node ord and publishes its ready Pod and EndpointSlice.
func (c *cluster) addPod(ctx context.Context, ord int) error {
	name := podName(ord)
	addr, err := c.nodes.Start(ctx, name, manager.NodeConfig{CapacityMB: 8, Policy: "lru", Password: password})
	if err != nil {
		return err
	}
	c.pods[ord] = addr
	if err := c.publish(ctx, ord, addr); err != nil {
		c.removePod(ctx, ord) // and try again
		return err
	}
	return nil
}

// publish creates pod ord, Ready, and its EndpointSlice, for a node at addr.
func (c *cluster) publish(ctx context.Context, ord int, addr string) error {
	name := podName(ord)
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": "pixpool-cache"}},
		Spec:       podSpec(),
	}
	pod, err := c.admin.CoreV1().Pods(c.ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: host, PodIPs: []corev1.PodIP{{IP: host}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
	}
	if _, err := c.admin.CoreV1().Pods(c.ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		return err
	}
	// One slice per pod: here every node shares 127.0.0.1, each on its own
	// port, and a slice's ports are its endpoints'. The API server refuses
	// loopback addresses in EndpointSlices, so the slice says testNetAddr,
	// which the provider is made to dial as 127.0.0.1 (export_test.go).
	ready, portName, port32 := true, kube.PortName, int32(port)
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			discoveryv1.LabelServiceName: kube.DefaultStatefulSet,
			discoveryv1.LabelManagedBy:   "pixpool-test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{testNetAddr}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			Hostname:  &name,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: c.ns, Name: name, UID: pod.UID},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: &portName, Port: &port32}},
	}
	_, err = c.admin.DiscoveryV1().EndpointSlices(c.ns).Create(ctx, es, metav1.CreateOptions{})
	return err
}

// removePod deletes pod ord and its slice, and stops its node.
func (c *cluster) removePod(ctx context.Context, ord int) error {
	name := podName(ord)
	if err := c.admin.DiscoveryV1().EndpointSlices(c.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := c.admin.CoreV1().Pods(c.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	c.nodes.Stop(ctx, name)
	delete(c.pods, ord)
	return nil
}

// kill ends pod ord as a node crash or an eviction would; the StatefulSet
// then makes it again (at a new address).
func (c *cluster) kill(ord int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.removePod(c.t.Context(), ord); err != nil {
		c.t.Fatal(err)
	}
}

// running is the ordinals that have a pod.
func (c *cluster) running() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pods)
}

// newManager runs a manager whose provider acts as pixpool-web.
func (c *cluster) newManager(nodes int) *manager.Manager {
	t := c.t
	quiet := slog.New(slog.DiscardHandler)
	prov, err := kube.NewForClient(t.Context(), c.webClient(), c.ns, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	m := &manager.Manager{
		Store: st, Pool: &pool.Client{Logger: quiet, ProbeEvery: 20 * time.Millisecond},
		Provider: prov, Secret: password, Logger: quiet,
		Nodes: nodes, CapacityMB: 8, ResizeTimeout: 30 * time.Second,
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); m.Pool.Close(); st.Close() })
	return m
}

// checkLayout asserts the pool has n nodes, the pods of ordinals 0..n-1
// at the addresses the fake kubelet gave them, all answering.
func (c *cluster) checkLayout(m *manager.Manager, n int) {
	t := c.t
	t.Helper()
	st := m.State()
	if len(st.Nodes) != n {
		t.Fatalf("%d nodes, want %d", len(st.Nodes), n)
	}
	c.mu.Lock()
	for i, nd := range st.Nodes {
		if nd.ID != podName(i) || nd.Addr != c.pods[i] {
			t.Errorf("node %d is %s at %s, want %s at %s", i, nd.ID, nd.Addr, podName(i), c.pods[i])
		}
	}
	c.mu.Unlock()
	for _, ns := range m.Pool.Stats(t.Context()) {
		if !ns.Up || ns.Capacity != 8<<20 {
			t.Errorf("node %s: up %v, capacity %d", ns.ID, ns.Up, ns.Capacity)
		}
	}
	s, err := c.admin.AppsV1().StatefulSets(c.ns).GetScale(t.Context(), kube.DefaultStatefulSet, metav1.GetOptions{})
	if err != nil || int(s.Spec.Replicas) != n {
		t.Fatalf("StatefulSet replicas %v (%v), want %d", s.Spec.Replicas, err, n)
	}
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
	c := newCluster(t)
	m := c.newManager(1)
	c.checkLayout(m, 1)
	kv := writeKeys(t, m, "a", 200)
	for _, n := range []int{4, 2} {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		rep, err := m.Resize(ctx, n, "manual")
		cancel()
		if err != nil {
			t.Fatalf("Resize(%d): %v", n, err)
		}
		c.checkLayout(m, n)
		if rep.Moved == 0 {
			t.Errorf("Resize(%d) moved no keys", n)
		}
		checkKeys(t, m, kv)
		// Read-your-writes under the new layout.
		maps := writeKeys(t, m, "n"+strconv.Itoa(n)+"-", 20)
		checkKeys(t, m, maps)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.running() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d pods run, want 2", c.running())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProvider_Autoscale lets the auto-scaler grow the pool 1 → 4 on a high
// miss rate and shrink it to 2 on a low one.
func TestProvider_Autoscale(t *testing.T) {
	c := newCluster(t)
	m := c.newManager(1)
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
		c.checkLayout(m, step.want)
		checkKeys(t, m, kv)
	}
	if h := m.State().Resizes; len(h) != 2 || h[0].Reason != "auto" || h[1].To != 2 {
		t.Fatalf("history %+v", h)
	}
}

// TestProvider_NodeGone: a pod that goes away is handled like a dead local
// node: the manager waits for the StatefulSet's new pod and takes it up,
// under the same id, at its new address.
func TestProvider_NodeGone(t *testing.T) {
	c := newCluster(t)
	m := c.newManager(2)
	c.checkLayout(m, 2)
	before := m.State().Nodes[1]
	c.kill(1)
	deadline := time.Now().Add(30 * time.Second)
	for m.State().Nodes[1].Addr == before.Addr {
		if time.Now().After(deadline) {
			t.Fatal("the node whose pod went away was not taken up again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.checkLayout(m, 2)
	kv := writeKeys(t, m, "after", 20)
	checkKeys(t, m, kv)
}

// TestProvider_Rights: rbac.yaml's ServiceAccount may not do more than the
// provider needs.
func TestProvider_Rights(t *testing.T) {
	c := newCluster(t)
	web := c.webClient()
	ctx := t.Context()
	for what, call := range map[string]func() error{
		"delete pods": func() error {
			return web.CoreV1().Pods(c.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		},
		"read secrets": func() error {
			_, err := web.CoreV1().Secrets(c.ns).List(ctx, metav1.ListOptions{})
			return err
		},
		"update the StatefulSet": func() error {
			sts, err := c.admin.AppsV1().StatefulSets(c.ns).Get(ctx, kube.DefaultStatefulSet, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = web.AppsV1().StatefulSets(c.ns).Update(ctx, sts, metav1.UpdateOptions{})
			return err
		},
		"scale another StatefulSet": func() error {
			_, err := web.AppsV1().StatefulSets(c.ns).GetScale(ctx, "other", metav1.GetOptions{})
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
	if _, err := web.AppsV1().StatefulSets(c.ns).GetScale(ctx, kube.DefaultStatefulSet, metav1.GetOptions{}); err != nil {
		t.Errorf("get scale: %v", err)
	}
}

