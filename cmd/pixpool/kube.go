package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/manager/kube"
	"github.com/pixpool/pixpool/pool"
)

// kubeConfig is the part of Config for the cache nodes on Kubernetes
// (--cache-provider kubernetes; manager/kube, docs/kubernetes.md).
type kubeConfig struct {
	CacheProvider   string // "local" (or "") or "kubernetes"
	Kubeconfig      string
	KubeNamespace   string
	KubeStatefulSet string
}

func (c *kubeConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.CacheProvider, "cache-provider", "local", "who runs the cache nodes: local (child processes of this server) or kubernetes (the pods of a StatefulSet the leader scales; the nodes' password, user:password, in "+cacheAuthEnv+", see docs/kubernetes.md); --cache-nodes instead gives a fixed list")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "with --cache-provider kubernetes: kubeconfig file (default: the in-cluster config, else $KUBECONFIG)")
	fs.StringVar(&c.KubeNamespace, "kube-namespace", "", "with --cache-provider kubernetes: namespace of the nodes' StatefulSet (default: the pod's own, else the kubeconfig context's)")
	fs.StringVar(&c.KubeStatefulSet, "kube-statefulset", kube.DefaultStatefulSet, "with --cache-provider kubernetes: the nodes' StatefulSet, and its headless Service")
}

// kubeProvider connects the provider of --cache-provider kubernetes. The
// nodes' password, cred, is the pool's secret: the deployment gives the
// nodes and this server the same Secret.
func (c *kubeConfig) kubeProvider(ctx context.Context, m *Main, cred *cache.Credential) (*kube.Provider, error) {
	if cred == nil {
		return nil, fmt.Errorf("--cache-provider kubernetes: give the nodes' user:password (pixpool:PASSWORD, the Secret the StatefulSet gives them: deploy/kubernetes mounts it for both) in --cache-auth-file or %s", cacheAuthEnv)
	}
	if cred.User != pool.DefaultUser {
		return nil, fmt.Errorf("--cache-provider kubernetes: the nodes' user must be %q, not %q", pool.DefaultUser, cred.User)
	}
	return kube.New(ctx, kube.Config{Kubeconfig: c.Kubeconfig, Namespace: c.KubeNamespace, StatefulSet: c.KubeStatefulSet, Logger: m.Logger})
}

// validProvider checks --cache-provider.
func (c *kubeConfig) validProvider(static []string) error {
	switch c.CacheProvider {
	case "", "local":
		return nil
	case "kubernetes":
		if len(static) > 0 {
			return fmt.Errorf("give --cache-provider kubernetes or --cache-nodes, not both")
		}
		return nil
	}
	return fmt.Errorf("--cache-provider must be local or kubernetes, not %q", c.CacheProvider)
}

var _ manager.NodeNamer = (*kube.Provider)(nil)
