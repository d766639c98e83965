// Package kubetest runs the cache nodes of a Kubernetes provider in tests:
// on the test control plane (pixpooltest.Kube), with the test standing in
// for kubelet, StatefulSet controller and endpoint controller.
package kubetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
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
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/manager/kube"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/pool"
	"github.com/pixpool/pixpool/store/sqlite"
)

// The test binary must run pixpooltest.RunCacheNodeIfAsked first in its
// TestMain: the fake kubelet runs it as the cache nodes.

// rbacFile is deploy/kubernetes/rbac.yaml.
func rbacFile() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "deploy", "kubernetes", "rbac.yaml")
}

// WebKubeconfig writes a kubeconfig for the ServiceAccount pixpool-web
// (WebClient's token) and returns its path.
func (c *Cluster) WebKubeconfig() string {
	t := c.t
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthority: c.Config.CAFile, CertificateAuthorityData: c.Config.CAData}
	cfg.AuthInfos["web"] = &clientcmdapi.AuthInfo{Token: c.webToken()}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "web", Namespace: c.NS}
	cfg.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// Password is the nodes' password, as user pool.DefaultUser: give it to
// the manager as its Secret (serve: PIXPOOL_CACHE_AUTH=pixpool:Password).
const Password = "test-pool-secret"

// testNetAddr stands for 127.0.0.1 in the EndpointSlices (RFC 5737).
const testNetAddr = "192.0.2.1"

func init() { kube.DialAs(testNetAddr, "127.0.0.1") }

// Cluster is a namespace of the test control plane with the nodes'
// StatefulSet and headless Service, deploy/kubernetes/rbac.yaml applied,
// and a fake kubelet and endpoint controller: for every replica the
// StatefulSet asks for it runs a local cache node, creates its Pod, marks
// it Ready and lists it in an EndpointSlice; it removes them on scale down.
type Cluster struct {
	t *testing.T
	// Admin is a client with every right; Config its config.
	Admin  kubernetes.Interface
	Config *rest.Config
	// NS is the namespace.
	NS    string
	nodes *manager.LocalProvider // the node processes

	mu    sync.Mutex
	pods  map[int]string // ordinal → node address
	stuck map[int]bool   // ordinals never scheduled (Unschedulable)
}

func New(t *testing.T) *Cluster {
	t.Helper()
	path := pixpooltest.Kube(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	admin := kubernetes.NewForConfigOrDie(cfg)
	ctx := t.Context()
	c := &Cluster{
		t: t, Admin: admin, Config: cfg,
		NS:    "pixpool-" + strings.ToLower(rand.Text()[:10]),
		nodes: &manager.LocalProvider{Logger: slog.New(slog.DiscardHandler)},
		pods:  make(map[int]string),
		stuck: make(map[int]bool),
	}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.NS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.nodes.Close()
		admin.CoreV1().Namespaces().Delete(context.Background(), c.NS, metav1.DeleteOptions{})
	})
	c.applyRBAC()
	labels := map[string]string{"app.kubernetes.io/name": "pixpool-cache"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: kube.DefaultStatefulSet},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: labels,
			Ports: []corev1.ServicePort{{Name: kube.PortName, Port: 11211}}},
	}
	if _, err := admin.CoreV1().Services(c.NS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
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
	if _, err := admin.AppsV1().StatefulSets(c.NS).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
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
func (c *Cluster) applyRBAC() {
	t := c.t
	b, err := os.ReadFile(rbacFile())
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
			_, err = c.Admin.CoreV1().ServiceAccounts(c.NS).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = c.Admin.RbacV1().Roles(c.NS).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			for i := range o.Subjects {
				if o.Subjects[i].Kind == rbacv1.ServiceAccountKind {
					o.Subjects[i].Namespace = c.NS
				}
			}
			_, err = c.Admin.RbacV1().RoleBindings(c.NS).Create(ctx, o, metav1.CreateOptions{})
		default:
			err = fmt.Errorf("unexpected %T", obj)
		}
		if err != nil {
			t.Fatalf("rbac.yaml: %v", err)
		}
	}
}

// WebClient is a client acting as the ServiceAccount pixpool-web, with a
// token from the TokenRequest API and no other credentials.
func (c *Cluster) WebClient() kubernetes.Interface {
	cfg := rest.AnonymousClientConfig(c.Config)
	cfg.BearerToken = c.webToken()
	return kubernetes.NewForConfigOrDie(cfg)
}

func (c *Cluster) webToken() string {
	t := c.t
	tr, err := c.Admin.CoreV1().ServiceAccounts(c.NS).CreateToken(t.Context(), "pixpool-web",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// kubelet plays kubelet, StatefulSet controller and endpoint controller
// until ctx ends.
func (c *Cluster) kubelet(ctx context.Context) {
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

func (c *Cluster) sync(ctx context.Context) error {
	s, err := c.Admin.AppsV1().StatefulSets(c.NS).GetScale(ctx, kube.DefaultStatefulSet, metav1.GetOptions{})
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
		if _, ok := c.pods[ord]; !ok && !c.stuck[ord] {
			if err := c.addPod(ctx, ord); err != nil {
				return err
			}
		}
	}
	return nil
}

func podName(ord int) string { return kube.DefaultStatefulSet + "-" + strconv.Itoa(ord) }

// addPod runs node ord and publishes its ready Pod and EndpointSlice.
func (c *Cluster) addPod(ctx context.Context, ord int) error {
	name := podName(ord)
	addr, err := c.nodes.Start(ctx, name, manager.NodeConfig{CapacityMB: 8, Policy: "lru", Password: Password})
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
func (c *Cluster) publish(ctx context.Context, ord int, addr string) error {
	name := podName(ord)
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": "pixpool-cache"}},
		Spec:       podSpec(),
	}
	pod, err := c.Admin.CoreV1().Pods(c.NS).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: host, PodIPs: []corev1.PodIP{{IP: host}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
	}
	if _, err := c.Admin.CoreV1().Pods(c.NS).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
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
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: c.NS, Name: name, UID: pod.UID},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: &portName, Port: &port32}},
	}
	_, err = c.Admin.DiscoveryV1().EndpointSlices(c.NS).Create(ctx, es, metav1.CreateOptions{})
	return err
}

// removePod deletes pod ord and its slice, and stops its node.
func (c *Cluster) removePod(ctx context.Context, ord int) error {
	name := podName(ord)
	if err := c.Admin.DiscoveryV1().EndpointSlices(c.NS).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := c.Admin.CoreV1().Pods(c.NS).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	c.nodes.Stop(ctx, name)
	delete(c.pods, ord)
	return nil
}

// Kill ends pod ord as a node crash or an eviction would; the StatefulSet
// then makes it again (at a new address).
func (c *Cluster) Kill(ord int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.removePod(c.t.Context(), ord); err != nil {
		c.t.Fatal(err)
	}
}

// Unschedulable makes pod ord never start, as one no machine has room
// for: the StatefulSet asks for it, but it never becomes ready.
func (c *Cluster) Unschedulable(ord int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stuck[ord] = true
}

// Replicas is the StatefulSet's replica count.
func (c *Cluster) Replicas() int {
	c.t.Helper()
	s, err := c.Admin.AppsV1().StatefulSets(c.NS).GetScale(context.Background(), kube.DefaultStatefulSet, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return int(s.Spec.Replicas)
}

// Running is how many pods run.
func (c *Cluster) Running() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pods)
}

// NewManager runs a manager whose provider acts as pixpool-web.
func (c *Cluster) NewManager(nodes int) *manager.Manager {
	t := c.t
	quiet := slog.New(slog.DiscardHandler)
	prov, err := kube.NewForClient(t.Context(), c.WebClient(), c.NS, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	m := &manager.Manager{
		Store: st, Pool: &pool.Client{Logger: quiet, ProbeEvery: 20 * time.Millisecond},
		Provider: prov, Secret: Password, Logger: quiet,
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

// CheckLayout asserts the pool has n nodes, the pods of ordinals 0..n-1
// at the addresses the fake kubelet gave them, all answering.
func (c *Cluster) CheckLayout(m *manager.Manager, n int) {
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
	s, err := c.Admin.AppsV1().StatefulSets(c.NS).GetScale(t.Context(), kube.DefaultStatefulSet, metav1.GetOptions{})
	if err != nil || int(s.Spec.Replicas) != n {
		t.Fatalf("StatefulSet replicas %v (%v), want %d", s.Spec.Replicas, err, n)
	}
}
