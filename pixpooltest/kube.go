package pixpooltest

import (
	"os"
	"testing"
)

// KubeEnv names the admin kubeconfig of the Kubernetes control plane (etcd
// and kube-apiserver, no kubelet) tests use; scripts/kube-test.sh starts one
// and scripts/with-services.sh sets it.
const KubeEnv = "PIXPOOL_TEST_KUBE"

// Kube returns the path of the test control plane's admin kubeconfig.
// Without KubeEnv set it skips tb, except in CI, where a skipped test would
// pass unnoticed.
func Kube(tb testing.TB) string {
	tb.Helper()
	path := os.Getenv(KubeEnv)
	if path == "" {
		msg := KubeEnv + " is not set; start a throwaway control plane with " +
			KubeEnv + "=$(scripts/kube-test.sh start /tmp/kubetest), stop it with scripts/kube-test.sh stop /tmp/kubetest"
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("%s: %v", KubeEnv, err)
	}
	return path
}
