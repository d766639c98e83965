package manager

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestLocalProvider_NodeEnv: a node serve starts gets none of serve's
// settings and secrets, as another local user reading its
// /proc/PID/environ would find them.
func TestLocalProvider_NodeEnv(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	secrets := map[string]string{
		"PIXPOOL_ADMIN_PASSWORD": "admin-secret",
		"PIXPOOL_DB":             "postgres://pixpool:db-secret@127.0.0.1/pixpool",
		"PIXPOOL_S3_SECRET_KEY":  "s3-secret",
		"AWS_ACCESS_KEY_ID":      "AKIAEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":  "aws-secret",
		"PGPASSWORD":             "pg-secret",
		"DATABASE_URL":           "postgres://u:dburl-secret@127.0.0.1/x",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	p := &LocalProvider{Logger: slog.New(slog.DiscardHandler)}
	t.Cleanup(func() { p.Close() })
	if _, err := p.Start(context.Background(), "n1", NodeConfig{CapacityMB: 1, Policy: "lru"}); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	pid := p.procs["n1"].cmd.Process.Pid
	p.mu.Unlock()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00")
	hasPath := false
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if _, ok := secrets[name]; ok || strings.Contains(value, "secret") || strings.HasPrefix(name, "PIXPOOL_") || strings.HasPrefix(name, "AWS_") {
			t.Errorf("the node's environment has %s", kv)
		}
		hasPath = hasPath || name == "PATH"
	}
	if !hasPath && os.Getenv("PATH") != "" {
		t.Errorf("the node's environment lacks PATH: %q", env)
	}
}
