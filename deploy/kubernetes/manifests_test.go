// Package kubernetes_test checks the manifests of deploy/kubernetes and the
// overlays beside it against a real kube-apiserver: every object is accepted
// by a server-side dry run, and the objects the server returns (defaults
// filled in) are checked for what the deployment relies on.
package kubernetes_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool/manager/kube"
	"github.com/pixpool/pixpool/pixpooltest"
)

// The names the deployment shares with the Kubernetes cache provider: its
// default StatefulSet (--kube-statefulset, also the headless Service) and
// port name, the web tier's Deployment and ServiceAccount, the node port.
const (
	webName       = "pixpool-web"
	cacheName     = kube.DefaultStatefulSet
	cachePortName = kube.PortName
	cachePort     = 11211
)

// dirs are the kustomizations checked, relative to this folder.
var dirs = []string{".", "../kubernetes-overlays/recognition", "../kubernetes-overlays/ingress"}

// TestManifestsServerDryRun applies the base and each overlay with
// `kubectl apply -k DIR --dry-run=server` into a fresh namespace and checks
// the objects the API server returns.
func TestManifestsServerDryRun(t *testing.T) {
	kubeconfig := pixpooltest.Kube(t)
	kubectl := kubectlPath(t)
	ns := "pixpool-manifests-" + strings.ToLower(rand.Text()[:8])
	run(t, kubectl, kubeconfig, "create", "namespace", ns)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := command(ctx, kubectl, kubeconfig, "delete", "namespace", ns, "--wait=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("delete namespace %s: %v\n%s", ns, err, out)
		}
	})
	t.Run("rbac", func(t *testing.T) {
		// Applied for real: the API server's authorizer answers what the web
		// tier's ServiceAccount may do.
		run(t, kubectl, kubeconfig, "apply", "-n", ns, "-f", "rbac.yaml")
		as := "--as=system:serviceaccount:" + ns + ":" + webName
		for _, c := range []struct {
			args []string
			want bool
		}{
			{[]string{"get", "statefulsets/" + cacheName}, true},
			{[]string{"get", "statefulsets/" + cacheName, "--subresource=scale"}, true},
			{[]string{"update", "statefulsets/" + cacheName, "--subresource=scale"}, true},
			{[]string{"list", "pods"}, true},
			{[]string{"watch", "pods"}, true},
			{[]string{"list", "endpointslices.discovery.k8s.io"}, true},
			{[]string{"watch", "endpointslices.discovery.k8s.io"}, true},
			// Least rights: no Secrets, no other StatefulSet, nothing cluster-wide.
			{[]string{"get", "secrets"}, false},
			{[]string{"update", "statefulsets/other", "--subresource=scale"}, false},
			{[]string{"delete", "pods"}, false},
			{[]string{"list", "pods", "--all-namespaces"}, false},
		} {
			if got := canI(t, kubectl, kubeconfig, append(c.args, "-n", ns, as)...); got != c.want {
				t.Errorf("kubectl auth can-i %s as %s: %v, want %v", strings.Join(c.args, " "), webName, got, c.want)
			}
		}
	})
	pixpool := buildPixpool(t)
	for _, dir := range dirs {
		name := filepath.Base(dir)
		if dir == "." {
			name = "base"
		}
		t.Run(name, func(t *testing.T) {
			out := run(t, kubectl, kubeconfig, "apply", "-k", dir, "--dry-run=server", "-n", ns, "-o", "json")
			objs := decodeList(t, out)
			checkObjects(t, objs)
			for _, kind := range []string{"Deployment", "StatefulSet"} {
				for _, o := range objs {
					if o["kind"] == kind {
						var w workload
						remarshal(t, o, &w)
						for _, c := range w.Spec.Template.Spec.Containers {
							checkArgs(t, pixpool, c.Args)
							checkEnv(t, pixpool, c, settingKeys(objs))
						}
					}
				}
			}
			web := deployment(t, objs)
			image := web.Spec.Template.Spec.Containers[0].Image
			args := web.Spec.Template.Spec.Containers[0].Args
			switch filepath.Base(dir) {
			case "recognition":
				if !strings.HasPrefix(image, "pixpool-recognition:") || !slices.Contains(args, "--analyze=true") {
					t.Errorf("recognition overlay: web image %q, args %q: want pixpool-recognition with --analyze=true", image, args)
				}
			case "ingress":
				ing := find(objs, "Ingress", webName)
				if ing == nil {
					t.Fatalf("ingress overlay: no Ingress %s", webName)
				}
				var in ingress
				remarshal(t, ing, &in)
				for _, r := range in.Spec.Rules {
					for _, p := range r.HTTP.Paths {
						if p.Backend.Service.Name != webName || p.Backend.Service.Port.Name != "http" {
							t.Errorf("ingress backend %+v: want Service %s port http", p.Backend.Service, webName)
						}
					}
				}
			default:
				if !strings.HasPrefix(image, "pixpool:") || !slices.Contains(args, "--analyze=false") {
					t.Errorf("base: web image %q, args %q: want the plain pixpool image with --analyze=false", image, args)
				}
			}
		})
	}
}

// checkObjects checks what every variant must hold.
func checkObjects(t *testing.T, objs []map[string]any) {
	t.Helper()
	web := deployment(t, objs)
	ss := find(objs, "StatefulSet", cacheName)
	if ss == nil {
		t.Fatalf("no StatefulSet %s (the provider's default --kube-statefulset)", cacheName)
	}
	var cache workload
	remarshal(t, ss, &cache)

	// The web tier: the provider's flags, probes on the server's endpoints.
	wc := web.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"serve", "--cache-provider=kubernetes", "--kube-statefulset=" + cacheName, "--addr=0.0.0.0:8080"} {
		if !slices.Contains(wc.Args, want) {
			t.Errorf("web args %q lack %s", wc.Args, want)
		}
	}
	if p := wc.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		t.Errorf("web readiness probe %s: want GET /readyz", describe(p))
	}
	if p := wc.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("web liveness probe %s: want GET /healthz", describe(p))
	}
	for _, p := range []*probe{wc.ReadinessProbe, wc.LivenessProbe, wc.StartupProbe} {
		if p != nil && p.HTTPGet != nil && p.HTTPGet.Port != "http" {
			t.Errorf("web probe port %v: want the port named http", p.HTTPGet.Port)
		}
	}
	if !hasPort(wc, "http", 8080) {
		t.Errorf("web container ports %+v: want http 8080 (--addr)", wc.Ports)
	}
	// --data must be writable: an emptyDir under a read-only root.
	if !mountedEmptyDir(web.Spec.Template.Spec, wc, "/var/lib/pixpool") || !slices.Contains(wc.Args, "--data=/var/lib/pixpool") {
		t.Errorf("web: --data=/var/lib/pixpool must be an emptyDir mount (args %q)", wc.Args)
	}

	// The cache nodes: the names and port the provider looks for.
	if cache.Spec.ServiceName != cacheName || cache.Spec.PodManagementPolicy != "Parallel" {
		t.Errorf("StatefulSet serviceName %q, podManagementPolicy %q: want %s, Parallel", cache.Spec.ServiceName, cache.Spec.PodManagementPolicy, cacheName)
	}
	cc := cache.Spec.Template.Spec.Containers[0]
	if cc.Args[0] != "cachenode" || !slices.Contains(cc.Args, "--addr=0.0.0.0:"+strconv.Itoa(cachePort)) || !hasPort(cc, cachePortName, cachePort) {
		t.Errorf("cache node args %q, ports %+v: want cachenode on port memcache %d", cc.Args, cc.Ports, cachePort)
	}
	if p := cc.ReadinessProbe; p == nil || p.TCPSocket == nil || p.TCPSocket.Port != cachePortName {
		t.Errorf("cache node readiness probe %s: want TCP on memcache", describe(p))
	}
	svc := find(objs, "Service", cacheName)
	if svc == nil {
		t.Fatalf("no headless Service %s", cacheName)
	}
	var cs service
	remarshal(t, svc, &cs)
	if cs.Spec.ClusterIP != "None" || len(cs.Spec.Ports) != 1 || cs.Spec.Ports[0].Name != cachePortName || cs.Spec.Ports[0].Port != cachePort {
		t.Errorf("Service %s: clusterIP %q ports %+v: want headless with memcache %d", cacheName, cs.Spec.ClusterIP, cs.Spec.Ports, cachePort)
	}
	if !selects(cs.Spec.Selector, cache.Spec.Template.Metadata.Labels) {
		t.Errorf("Service %s selector %v does not select the nodes %v", cacheName, cs.Spec.Selector, cache.Spec.Template.Metadata.Labels)
	}
	var ws service
	remarshal(t, find(objs, "Service", webName), &ws)
	if !selects(ws.Spec.Selector, web.Spec.Template.Metadata.Labels) {
		t.Errorf("Service %s selector %v does not select the web pods %v", webName, ws.Spec.Selector, web.Spec.Template.Metadata.Labels)
	}

	// The nodes' NetworkPolicy lets the web pods in.
	if np := find(objs, "NetworkPolicy", cacheName); np == nil {
		t.Errorf("no NetworkPolicy %s", cacheName)
	} else {
		var pol struct {
			Spec struct {
				PodSelector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"podSelector"`
				Ingress []struct {
					From []struct {
						PodSelector struct {
							MatchLabels map[string]string `json:"matchLabels"`
						} `json:"podSelector"`
					} `json:"from"`
				} `json:"ingress"`
			} `json:"spec"`
		}
		remarshal(t, np, &pol)
		if !selects(pol.Spec.PodSelector.MatchLabels, cache.Spec.Template.Metadata.Labels) ||
			len(pol.Spec.Ingress) != 1 || len(pol.Spec.Ingress[0].From) != 1 ||
			!selects(pol.Spec.Ingress[0].From[0].PodSelector.MatchLabels, web.Spec.Template.Metadata.Labels) {
			b, _ := json.Marshal(pol.Spec)
			t.Errorf("NetworkPolicy %s %s: want the nodes selected and the web pods let in", cacheName, b)
		}
	}

	// Node memory: the capacity a new pool gets, plus Go's overhead, fits the limit.
	capMB := settingInt(t, objs, "PIXPOOL_CACHE_CAPACITY")
	limit := memoryBytes(t, cc.Resources.Limits["memory"])
	if need := int64(capMB) << 20 * 5 / 4; limit < need {
		t.Errorf("cache node memory limit %d bytes is below capacity %d MB plus a quarter (%d): raise the limit in cache.yaml or lower PIXPOOL_CACHE_CAPACITY", limit, capMB, need)
	}

	for _, w := range []struct {
		name string
		spec podSpec
		lbl  map[string]string
	}{{webName, web.Spec.Template.Spec, web.Spec.Template.Metadata.Labels}, {cacheName, cache.Spec.Template.Spec, cache.Spec.Template.Metadata.Labels}} {
		// Non-root, read-only root, resources.
		sc := w.spec.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			b, _ := json.Marshal(sc)
			t.Errorf("%s: pod securityContext %s: want runAsNonRoot and a non-zero runAsUser", w.name, b)
		}
		for _, c := range w.spec.Containers {
			csc := c.SecurityContext
			if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
				b, _ := json.Marshal(csc)
				t.Errorf("%s/%s: securityContext %s: want readOnlyRootFilesystem true and allowPrivilegeEscalation false", w.name, c.Name, b)
			}
			if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
				t.Errorf("%s/%s: resources %+v: want cpu and memory requests and a memory limit", w.name, c.Name, c.Resources)
			}
		}
		// Exactly one PodDisruptionBudget selects the pods.
		n := 0
		for _, o := range objs {
			if o["kind"] != "PodDisruptionBudget" {
				continue
			}
			var pdb struct {
				Spec struct {
					Selector struct {
						MatchLabels map[string]string `json:"matchLabels"`
					} `json:"selector"`
				} `json:"spec"`
			}
			remarshal(t, o, &pdb)
			if selects(pdb.Spec.Selector.MatchLabels, w.lbl) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d PodDisruptionBudgets select its pods, want 1", w.name, n)
		}
	}

	checkRBAC(t, objs, web.Spec.Template.Spec.ServiceAccountName)
}

// checkRBAC checks that the web tier's ServiceAccount exists and is bound to
// a Role that may scale the node StatefulSet and watch EndpointSlices; the
// provider's own tests prove that these rights suffice.
func checkRBAC(t *testing.T, objs []map[string]any, account string) {
	t.Helper()
	if account != webName || find(objs, "ServiceAccount", account) == nil {
		t.Fatalf("web ServiceAccount %q: want %s, defined in rbac.yaml", account, webName)
	}
	type rule struct {
		APIGroups     []string `json:"apiGroups"`
		Resources     []string `json:"resources"`
		ResourceNames []string `json:"resourceNames"`
		Verbs         []string `json:"verbs"`
	}
	allowed := func(rules []rule, group, resource, verb string) bool {
		for _, r := range rules {
			if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) &&
				(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, cacheName) || resource == "endpointslices") {
				return true
			}
		}
		return false
	}
	bound := false
	for _, o := range objs {
		if o["kind"] != "RoleBinding" {
			continue
		}
		var rb struct {
			RoleRef  struct{ Kind, Name string } `json:"roleRef"`
			Subjects []struct{ Kind, Name string }
		}
		remarshal(t, o, &rb)
		if !slices.Contains(rb.Subjects, struct{ Kind, Name string }{"ServiceAccount", account}) {
			continue
		}
		role := find(objs, rb.RoleRef.Kind, rb.RoleRef.Name)
		if role == nil {
			t.Errorf("RoleBinding of %s names %s %s, which is not in the manifests", account, rb.RoleRef.Kind, rb.RoleRef.Name)
			continue
		}
		var r struct{ Rules []rule }
		remarshal(t, role, &r)
		if (allowed(r.Rules, "apps", "statefulsets/scale", "update") || allowed(r.Rules, "apps", "statefulsets/scale", "patch")) &&
			allowed(r.Rules, "discovery.k8s.io", "endpointslices", "watch") {
			bound = true
		}
	}
	if !bound {
		t.Errorf("no RoleBinding gives ServiceAccount %s the right to scale %s and watch EndpointSlices", account, cacheName)
	}
}

// The parts of the objects the checks read.
type (
	workload struct {
		Spec struct {
			ServiceName         string `json:"serviceName"`
			PodManagementPolicy string `json:"podManagementPolicy"`
			Template            struct {
				Metadata struct {
					Labels map[string]string `json:"labels"`
				} `json:"metadata"`
				Spec podSpec `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	podSpec struct {
		ServiceAccountName string `json:"serviceAccountName"`
		SecurityContext    *struct {
			RunAsNonRoot *bool  `json:"runAsNonRoot"`
			RunAsUser    *int64 `json:"runAsUser"`
		} `json:"securityContext"`
		Containers []container `json:"containers"`
		Volumes    []struct {
			Name     string          `json:"name"`
			EmptyDir json.RawMessage `json:"emptyDir"`
		} `json:"volumes"`
	}
	container struct {
		Name  string   `json:"name"`
		Image string   `json:"image"`
		Args  []string `json:"args"`
		Env   []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"env"`
		EnvFrom []struct {
			ConfigMapRef *struct {
				Name string `json:"name"`
			} `json:"configMapRef"`
		} `json:"envFrom"`
		Ports []struct {
			Name          string `json:"name"`
			ContainerPort int    `json:"containerPort"`
		} `json:"ports"`
		ReadinessProbe *probe `json:"readinessProbe"`
		LivenessProbe  *probe `json:"livenessProbe"`
		StartupProbe   *probe `json:"startupProbe"`
		Resources      struct {
			Requests map[string]string `json:"requests"`
			Limits   map[string]string `json:"limits"`
		} `json:"resources"`
		SecurityContext *struct {
			ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
			AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
		} `json:"securityContext"`
		VolumeMounts []struct {
			Name      string `json:"name"`
			MountPath string `json:"mountPath"`
		} `json:"volumeMounts"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `json:"path"`
			Port any    `json:"port"`
		} `json:"httpGet"`
		TCPSocket *struct {
			Port any `json:"port"`
		} `json:"tcpSocket"`
	}
	service struct {
		Spec struct {
			ClusterIP string            `json:"clusterIP"`
			Selector  map[string]string `json:"selector"`
			Ports     []struct {
				Name string `json:"name"`
				Port int    `json:"port"`
			} `json:"ports"`
		} `json:"spec"`
	}
	ingress struct {
		Spec struct {
			Rules []struct {
				HTTP struct {
					Paths []struct {
						Backend struct {
							Service struct {
								Name string `json:"name"`
								Port struct {
									Name string `json:"name"`
								} `json:"port"`
							} `json:"service"`
						} `json:"backend"`
					} `json:"paths"`
				} `json:"http"`
			} `json:"rules"`
		} `json:"spec"`
	}
)

func deployment(t *testing.T, objs []map[string]any) workload {
	t.Helper()
	o := find(objs, "Deployment", webName)
	if o == nil {
		t.Fatalf("no Deployment %s", webName)
	}
	var w workload
	remarshal(t, o, &w)
	if len(w.Spec.Template.Spec.Containers) == 0 {
		t.Fatalf("Deployment %s has no container", webName)
	}
	return w
}

// describe shows a probe in a failure message.
func describe(p *probe) string {
	b, _ := json.Marshal(p)
	return string(b)
}

func hasPort(c container, name string, port int) bool {
	for _, p := range c.Ports {
		if p.Name == name && p.ContainerPort == port {
			return true
		}
	}
	return false
}

func mountedEmptyDir(spec podSpec, c container, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil {
				return true
			}
		}
	}
	return false
}

// selects reports whether a non-empty selector matches labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// settingKeys returns the variables of the ConfigMap pixpool-settings.
func settingKeys(objs []map[string]any) []string {
	var keys []string
	for _, o := range objs {
		md, _ := o["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		if o["kind"] != "ConfigMap" || !strings.HasPrefix(name, "pixpool-settings") {
			continue
		}
		data, _ := o["data"].(map[string]any)
		for k := range data {
			keys = append(keys, k)
		}
	}
	return keys
}

// checkEnv checks that every PIXPOOL_ variable of a container (and of the
// ConfigMap pixpool-settings it reads) is one its pixpool command reads: a
// flag's PIXPOOL_<FLAG>, or that with _FILE naming a file, which must then
// be in one of the container's mounts. A misspelt variable is otherwise
// silently ignored.
func checkEnv(t *testing.T, pixpool string, c container, settings []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _ := exec.CommandContext(ctx, pixpool, c.Args[0], "-h").CombinedOutput()
	known := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		if f, ok := strings.CutPrefix(strings.TrimLeft(line, " \t"), "-"); ok && len(line) > len(strings.TrimLeft(line, " \t")) {
			f, _, _ = strings.Cut(strings.TrimSpace(f), " ")
			known["PIXPOOL_"+strings.ToUpper(strings.ReplaceAll(f, "-", "_"))] = true
		}
	}
	if len(known) == 0 {
		t.Fatalf("pixpool %s -h lists no flags:\n%s", c.Args[0], out)
	}
	// Read by name, not through a flag (cachenode.go, cacheauth.go, serve.go).
	known["PIXPOOL_AUTH"] = c.Args[0] == "cachenode"
	known["PIXPOOL_CACHE_AUTH"] = c.Args[0] == "serve"
	known["PIXPOOL_ADMIN_PASSWORD"] = c.Args[0] == "serve"
	vars := map[string]string{}
	for _, e := range c.Env {
		vars[e.Name] = e.Value
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil && strings.HasPrefix(ef.ConfigMapRef.Name, "pixpool-settings") {
			for _, k := range settings {
				vars[k] = ""
			}
		}
	}
	for name, value := range vars {
		if !strings.HasPrefix(name, "PIXPOOL_") {
			continue
		}
		base, file := strings.CutSuffix(name, "_FILE")
		switch {
		case known[name]:
		case file && known[base]:
		default:
			t.Errorf("container %s (pixpool %s): %s is no variable it reads", c.Name, c.Args[0], name)
			continue
		}
		if !file {
			continue
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			mounted = mounted || strings.HasPrefix(value, strings.TrimSuffix(m.MountPath, "/")+"/")
		}
		if !mounted {
			t.Errorf("container %s: %s=%q is in none of its mounts", c.Name, name, value)
		}
	}
}

// settingInt returns a value of the ConfigMap pixpool-settings as an int.
func settingInt(t *testing.T, objs []map[string]any, key string) int {
	t.Helper()
	for _, o := range objs {
		md, _ := o["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		if o["kind"] != "ConfigMap" || !strings.HasPrefix(name, "pixpool-settings") {
			continue
		}
		data, _ := o["data"].(map[string]any)
		s, _ := data[key].(string)
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("ConfigMap %s: %s=%q: %v", name, key, s, err)
		}
		return n
	}
	t.Fatalf("no ConfigMap pixpool-settings")
	return 0
}

// memoryBytes parses the binary-suffixed quantities the manifests use.
func memoryBytes(t *testing.T, q string) int64 {
	t.Helper()
	for suffix, shift := range map[string]uint{"Ki": 10, "Mi": 20, "Gi": 30} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				t.Fatalf("memory quantity %q: %v", q, err)
			}
			return v << shift
		}
	}
	v, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		t.Fatalf("memory quantity %q: use Ki, Mi or Gi", q)
	}
	return v
}

func find(objs []map[string]any, kind, name string) map[string]any {
	for _, o := range objs {
		md, _ := o["metadata"].(map[string]any)
		if o["kind"] == kind && md["name"] == name {
			return o
		}
	}
	return nil
}

func remarshal(t *testing.T, from, to any) {
	t.Helper()
	b, err := json.Marshal(from)
	if err == nil {
		err = json.Unmarshal(b, to)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// decodeList decodes kubectl's -o json output: a List, or one object.
func decodeList(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var l struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(out, &l); err != nil {
		t.Fatalf("kubectl output is not JSON: %v\n%s", err, out)
	}
	if l.Kind != "List" {
		t.Fatalf("kubectl output is a %s, want a List", l.Kind)
	}
	return l.Items
}

// kubectlPath finds kubectl: PIXPOOL_TEST_KUBECTL, else the one
// scripts/kube-test.sh built from the same Kubernetes tree as the API
// server (kept beside it; building only if with-services.sh has not).
func kubectlPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PIXPOOL_TEST_KUBECTL"); p != "" {
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "../../scripts/kube-test.sh", "bin")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/kube-test.sh bin (which builds kubectl with the control plane): %v\n%s", err, stderr.Bytes())
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "kubectl")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("kubectl is not where scripts/kube-test.sh bin says: %v", err)
	}
	return p
}

// buildPixpool builds cmd/pixpool into a temporary folder.
func buildPixpool(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pixpool")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/pixpool").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/pixpool: %v\n%s", err, out)
	}
	return bin
}

// checkArgs checks that the pixpool command and flags of a container parse:
// with -h after them, the flag set reads every flag before it prints its
// usage, and an unknown flag or a bad value is reported instead.
func checkArgs(t *testing.T, pixpool string, args []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _ := exec.CommandContext(ctx, pixpool, append(slices.Clone(args), "-h")...).CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	if !strings.HasPrefix(first, "Usage: pixpool "+args[0]) {
		t.Errorf("pixpool %s: the flags do not parse: %s", strings.Join(args, " "), first)
	}
}

// canI answers kubectl auth can-i args: yes (exit 0) or no (exit 1).
func canI(t *testing.T, kubectl, kubeconfig string, args ...string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := command(ctx, kubectl, kubeconfig, append([]string{"auth", "can-i"}, args...)...).CombinedOutput()
	answer := strings.TrimSpace(string(out))
	switch {
	case err == nil && answer == "yes":
		return true
	case strings.HasPrefix(answer, "no"):
		return false
	}
	t.Fatalf("kubectl auth can-i %s: %v\n%s", strings.Join(args, " "), err, out)
	return false
}

// command is kubectl with kubeconfig and args.
func command(ctx context.Context, kubectl, kubeconfig string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig, "--request-timeout=30s"}, args...)...)
}

// run runs kubectl and returns its standard output, failing t with its
// standard error if it fails.
func run(t *testing.T, kubectl, kubeconfig string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := command(ctx, kubectl, kubeconfig, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}
