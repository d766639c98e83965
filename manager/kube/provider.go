// Package kube runs the cache pool's nodes on Kubernetes: they are the pods
// of a StatefulSet, which the leader scales through its scale subresource.
//
// Node i of the layout is the pod <statefulset>-i, so the ring keeps its
// identities across restarts of pods and of the leader, and a shrink, which
// removes the last nodes of the layout, removes the highest ordinals, as the
// StatefulSet does. A node serves once its pod is Ready and an EndpointSlice
// of the StatefulSet's headless Service (named like the StatefulSet) lists
// it ready, with the port named "memcache"; its address is that endpoint's.
// A started node whose pod goes away or whose endpoint stops being ready is
// reported as exited, and the manager starts it again (waits for it).
//
// The nodes get the pool's password from the deployment (a Secret both the
// StatefulSet and the web tier read), not from the provider, which needs no
// rights on Secrets; see docs/kubernetes-provider.md.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/pixpool/pixpool/manager"
)

// DefaultStatefulSet names the nodes' StatefulSet and its headless Service.
const DefaultStatefulSet = "pixpool-cache"

// PortName is the name of the nodes' memcached port in the pod spec, and so
// in the EndpointSlices.
const PortName = "memcache"

// Config says which cluster and StatefulSet the provider uses.
type Config struct {
	// Kubeconfig is a kubeconfig file; if empty, the in-cluster config,
	// else $KUBECONFIG (or ~/.kube/config).
	Kubeconfig string
	// Namespace of the StatefulSet; if empty, the pod's own (in-cluster),
	// else the kubeconfig context's.
	Namespace string
	// StatefulSet names the nodes' StatefulSet and headless Service; if
	// empty, DefaultStatefulSet.
	StatefulSet string
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
}

// Provider is a manager.Provider whose nodes are a StatefulSet's pods.
// It implements manager.NodeNamer and manager.ExitReporter.
//
// Close stops watching, not the nodes; a Start after Close (the manager
// opened again, when this replica leads again) watches anew.
type Provider struct {
	client    kubernetes.Interface
	namespace string
	name      string
	selector  string // of the StatefulSet's pods
	log       *slog.Logger

	watchMu sync.Mutex // held while the watcher is made or closed

	mu      sync.Mutex
	w       *watcher          // nil once closed, until Start watches again
	changed chan struct{}     // closed and replaced on every pod or slice event
	started map[string]string // node id → address, of nodes Start returned
	exited  func(id string, err error)
}

// watcher watches the pods and EndpointSlices until stop is closed.
type watcher struct {
	stop         chan struct{}
	factories    []informers.SharedInformerFactory
	pods, slices cache.Indexer
}

// close stops the informers and waits for them to end.
func (w *watcher) close() {
	close(w.stop)
	for _, f := range w.factories {
		f.Shutdown()
	}
}

// RESTConfig returns the client config and namespace cfg names.
func RESTConfig(cfg Config) (*rest.Config, string, error) {
	if cfg.Kubeconfig == "" {
		if rc, err := rest.InClusterConfig(); err == nil {
			ns := cfg.Namespace
			if ns == "" {
				b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
				if err != nil {
					return nil, "", fmt.Errorf("kubernetes: the pod's namespace: %w (set --kube-namespace)", err)
				}
				ns = strings.TrimSpace(string(b))
			}
			return rc, ns, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = cfg.Kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes: not in a cluster and no usable kubeconfig (give --kubeconfig or set KUBECONFIG): %w", err)
	}
	ns := cfg.Namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil {
			return nil, "", fmt.Errorf("kubernetes: namespace of the kubeconfig: %w (set --kube-namespace)", err)
		}
	}
	return rc, ns, nil
}

// New connects to the cluster, checks that the StatefulSet exists and
// starts watching its pods and EndpointSlices.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	rc, ns, err := RESTConfig(cfg)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return NewForClient(ctx, client, ns, cfg.StatefulSet, cfg.Logger)
}

// NewForClient is New with a client of one's own.
func NewForClient(ctx context.Context, client kubernetes.Interface, namespace, statefulSet string, logger *slog.Logger) (*Provider, error) {
	if statefulSet == "" {
		statefulSet = DefaultStatefulSet
	}
	if logger == nil {
		logger = slog.Default()
	}
	sts, err := client.AppsV1().StatefulSets(namespace).Get(ctx, statefulSet, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("kubernetes: the cache nodes' StatefulSet %s/%s: %w (create it from deploy/kubernetes, or name it with --kube-statefulset)", namespace, statefulSet, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: StatefulSet %s/%s: selector: %w", namespace, statefulSet, err)
	}
	p := &Provider{
		client: client, namespace: namespace, name: statefulSet, selector: selector.String(),
		log:     logger.With("statefulset", namespace+"/"+statefulSet),
		changed: make(chan struct{}),
		started: make(map[string]string),
	}
	if _, err := p.watching(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// watching returns the watcher, made (and synced) if there is none.
func (p *Provider) watching(ctx context.Context) (*watcher, error) {
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	p.mu.Lock()
	w := p.w
	p.mu.Unlock()
	if w != nil {
		return w, nil
	}
	w = &watcher{stop: make(chan struct{})}
	pods := informers.NewSharedInformerFactoryWithOptions(p.client, 0, informers.WithNamespace(p.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = p.selector }))
	slices := informers.NewSharedInformerFactoryWithOptions(p.client, 0, informers.WithNamespace(p.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.Set{discoveryv1.LabelServiceName: p.name}.String()
		}))
	w.factories = []informers.SharedInformerFactory{pods, slices}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.notify() },
		UpdateFunc: func(any, any) { p.notify() },
		DeleteFunc: func(any) { p.notify() },
	}
	podInf := pods.Core().V1().Pods().Informer()
	sliceInf := slices.Discovery().V1().EndpointSlices().Informer()
	for what, inf := range map[string]cache.SharedIndexInformer{"pods": podInf, "EndpointSlices": sliceInf} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, err
		}
		// An API server that restarts or refuses: the informer lists and
		// watches again by itself; say so in the server's log.
		if err := inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			p.log.Warn("watching the cache nodes' "+what+" failed; trying again", "err", explain(err))
		}); err != nil {
			return nil, err
		}
	}
	w.pods, w.slices = podInf.GetIndexer(), sliceInf.GetIndexer()
	pods.Start(w.stop)
	slices.Start(w.stop)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), podInf.HasSynced, sliceInf.HasSynced) {
		w.close()
		return nil, fmt.Errorf("kubernetes: could not list the pods and EndpointSlices of %s/%s (does the ServiceAccount have the rights of deploy/kubernetes/rbac.yaml?)", p.namespace, p.name)
	}
	p.mu.Lock()
	p.w = w
	p.mu.Unlock()
	return w, nil
}

// NodeID names node i: the StatefulSet's pod of ordinal i.
func (p *Provider) NodeID(i int) string { return p.name + "-" + strconv.Itoa(i) }

// ordinal is the ordinal of node id.
func (p *Provider) ordinal(id string) (int, error) {
	s, ok := strings.CutPrefix(id, p.name+"-")
	n, err := strconv.Atoi(s)
	if !ok || err != nil || n < 0 {
		return 0, fmt.Errorf("kubernetes: node %q is not a pod of StatefulSet %s", id, p.name)
	}
	return n, nil
}

// ReportExits sets the function told of nodes that went away.
func (p *Provider) ReportExits(exited func(id string, err error)) {
	p.mu.Lock()
	p.exited = exited
	p.mu.Unlock()
}

// notify wakes the waiting Starts and checks the started nodes.
func (p *Provider) notify() {
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	var gone []string
	for id, addr := range p.started {
		if p.w == nil {
			break
		}
		if now, err := p.ready(p.w, id); err != nil || now != addr {
			if err == nil {
				err = fmt.Errorf("its address changed from %s to %s", addr, now)
			}
			p.log.Warn("cache node pod went away", "node", id, "err", err)
			delete(p.started, id)
			gone = append(gone, id)
		}
	}
	exited := p.exited
	p.mu.Unlock()
	if exited != nil {
		for _, id := range gone {
			go exited(id, errors.New("its pod is gone or not ready"))
		}
	}
}

// ready returns the address of node id if its pod is Ready and an
// EndpointSlice lists it ready.
func (p *Provider) ready(w *watcher, id string) (string, error) {
	obj, ok, _ := w.pods.GetByKey(p.namespace + "/" + id)
	if !ok {
		return "", errors.New("no pod")
	}
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		return "", errors.New("pod is being deleted")
	}
	podReady := false
	for _, c := range pod.Status.Conditions {
		podReady = podReady || c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
	}
	if !podReady {
		return "", errors.New("pod not ready")
	}
	for _, obj := range w.slices.List() {
		es := obj.(*discoveryv1.EndpointSlice)
		var port int32
		for _, pt := range es.Ports {
			if pt.Name != nil && *pt.Name == PortName && pt.Port != nil {
				port = *pt.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" || ep.TargetRef.Name != id || ep.TargetRef.UID != pod.UID {
				continue
			}
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready && len(ep.Addresses) > 0 {
				return net.JoinHostPort(dialAs(ep.Addresses[0]), strconv.Itoa(int(port))), nil
			}
		}
	}
	return "", errors.New("no ready endpoint")
}

// scale sets the StatefulSet's replicas to f(current), through the scale
// subresource.
func (p *Provider) scale(ctx context.Context, f func(int32) int32) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := p.client.AppsV1().StatefulSets(p.namespace).GetScale(ctx, p.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := f(s.Spec.Replicas)
		if want == s.Spec.Replicas {
			return nil
		}
		p.log.Info("scaling the cache nodes", "from", s.Spec.Replicas, "to", want)
		s.Spec.Replicas = want
		_, err = p.client.AppsV1().StatefulSets(p.namespace).UpdateScale(ctx, p.name, s, metav1.UpdateOptions{})
		return err
	})
}

// Start makes sure the StatefulSet has pod id (scaling it up if needed) and
// waits until that pod serves. cfg's capacity and policy are applied by the
// manager over the protocol; the password is the deployment's.
func (p *Provider) Start(ctx context.Context, id string, cfg manager.NodeConfig) (string, error) {
	ord, err := p.ordinal(id)
	if err != nil {
		return "", err
	}
	if err := p.scale(ctx, func(cur int32) int32 { return max(cur, int32(ord)+1) }); err != nil {
		return "", fmt.Errorf("kubernetes: scale StatefulSet %s/%s: %w", p.namespace, p.name, explain(err))
	}
	w, err := p.watching(ctx)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		p.mu.Lock()
		addr, err := p.ready(w, id)
		changed := p.changed
		if err == nil {
			p.started[id] = addr
		}
		p.mu.Unlock()
		if err == nil {
			p.log.Info("cache node ready", "node", id, "addr", addr)
			return addr, nil
		}
		select {
		case <-changed:
		case <-w.stop:
			return "", errors.New("kubernetes: provider closed")
		case <-ctx.Done():
			return "", fmt.Errorf("kubernetes: cache node %s did not become ready (%v): %w", id, err, ctx.Err())
		}
	}
}

// Stop scales the StatefulSet down below pod id, which also removes the
// pods of higher ordinals: the manager stops the last nodes of the layout.
func (p *Provider) Stop(ctx context.Context, id string) error {
	ord, err := p.ordinal(id)
	if err != nil {
		return err
	}
	p.mu.Lock()
	for sid := range p.started {
		if o, err := p.ordinal(sid); err == nil && o >= ord {
			delete(p.started, sid) // goes with the scale below
		}
	}
	p.mu.Unlock()
	if err := p.scale(ctx, func(cur int32) int32 { return min(cur, int32(ord)) }); err != nil {
		return fmt.Errorf("kubernetes: scale StatefulSet %s/%s: %w", p.namespace, p.name, explain(err))
	}
	return nil
}

// Close stops watching, and waits for the watches to end. The pods keep
// running: the next leader takes them up, with their keys; a Start after
// Close watches again.
func (p *Provider) Close() error {
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	p.mu.Lock()
	w := p.w
	p.w = nil
	clear(p.started) // no longer ours to report
	p.mu.Unlock()
	if w != nil {
		w.close()
	}
	return nil
}

// dialAs maps an endpoint's address to the one to dial (DialAs).
var dialAs = func(addr string) string { return addr }

// DialAs makes the provider dial the nodes whose endpoint address is from
// at to instead. Only for tests: their nodes listen on 127.0.0.1, which the
// API server refuses in EndpointSlices (manager/kube/kubetest). Call it
// before any provider starts.
func DialAs(from, to string) {
	dialAs = func(addr string) string {
		if addr == from {
			return to
		}
		return addr
	}
}

// explain adds what to do to an API error a person can act on.
func explain(err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w (give the ServiceAccount the rights of deploy/kubernetes/rbac.yaml)", err)
	}
	return err
}
