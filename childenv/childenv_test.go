package childenv_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pixpool/pixpool/childenv"
)

// secrets are variables a pixpool server may well have set.
var secrets = map[string]string{
	"PIXPOOL_ADMIN_PASSWORD": "admin-secret",
	"PIXPOOL_DB":             "postgres://pixpool:db-secret@db/pixpool",
	"PIXPOOL_S3_SECRET_KEY":  "s3-secret",
	"AWS_ACCESS_KEY_ID":      "AKIAEXAMPLE",
	"AWS_SECRET_ACCESS_KEY":  "aws-secret",
	"AWS_SESSION_TOKEN":      "aws-token",
	"PGPASSWORD":             "pg-secret",
	"PGPASSFILE":             "/secret/pgpass",
	"DATABASE_URL":           "postgres://u:dburl-secret@db/x",
	"MY_API_TOKEN":           "token-secret",
}

// runEnv runs env(1) with cmd.Env set to env and returns what the child
// saw, one NAME=value a line.
func runEnv(t *testing.T, env []string) []string {
	t.Helper()
	path, err := exec.LookPath("env")
	if err != nil {
		t.Skip("no env program")
	}
	cmd := exec.Command(path)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func TestEnv(t *testing.T) {
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	t.Setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
	t.Setenv("HOME", "/home/pixpool")
	t.Setenv("LC_ALL", "C.UTF-8")
	t.Setenv("TESSDATA_PREFIX", "/opt/tessdata")
	t.Setenv("OMP_THREAD_LIMIT", "8")
	t.Setenv("EDITOR", "vi")

	got := runEnv(t, childenv.Env([]string{"TESSDATA_PREFIX", "PGPASSWORD", "AWS_SECRET_ACCESS_KEY"}, "OMP_THREAD_LIMIT=1"))
	for _, want := range []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/pixpool", "LC_ALL=C.UTF-8",
		"TESSDATA_PREFIX=/opt/tessdata", "OMP_THREAD_LIMIT=1"} {
		if !slices.Contains(got, want) {
			t.Errorf("the child's environment lacks %s:\n%s", want, strings.Join(got, "\n"))
		}
	}
	for _, kv := range got {
		name, value, _ := strings.Cut(kv, "=")
		if _, ok := secrets[name]; ok || strings.Contains(value, "secret") {
			t.Errorf("the child got %s", kv)
		}
		if name == "EDITOR" || kv == "OMP_THREAD_LIMIT=8" {
			t.Errorf("the child got %s, which it was not given", kv)
		}
	}

	// Only extra can hand a child a secret: the one it is meant to have.
	got = runEnv(t, childenv.Env(nil, "PIXPOOL_CACHE_SECRET_FILE=/run/pool.secret"))
	if !slices.Contains(got, "PIXPOOL_CACHE_SECRET_FILE=/run/pool.secret") || slices.Contains(got, "PIXPOOL_ADMIN_PASSWORD=admin-secret") {
		t.Errorf("with an extra variable the child got:\n%s", strings.Join(got, "\n"))
	}
}

func TestSecret(t *testing.T) {
	for _, tt := range []struct {
		name   string
		secret bool
	}{
		{"PIXPOOL_ADMIN_PASSWORD", true},
		{"PIXPOOL_DB", true},
		{"PIXPOOL_DB_FILE", true},
		{"PIXPOOL_ADDR", true},
		{"AWS_SECRET_ACCESS_KEY", true},
		{"AWS_PROFILE", true},
		{"PGPASSWORD", true},
		{"PGSERVICEFILE", true},
		{"DATABASE_URL", true},
		{"REDIS_PASSWORD", true},
		{"GITHUB_TOKEN", true},
		{"pixpool_db", true},
		{"PATH", false},
		{"HOME", false},
		{"LANG", false},
		{"LC_ALL", false},
		{"TESSDATA_PREFIX", false},
		{"OMP_THREAD_LIMIT", false},
		{"GOMAXPROCS", false},
	} {
		if got := childenv.Secret(tt.name); got != tt.secret {
			t.Errorf("Secret(%q)=%v, want %v", tt.name, got, tt.secret)
		}
	}
}

// TestEveryCommandUsesEnv: every file of the repository that starts a
// program also gives it an environment of this package's; a Cmd whose Env
// is nil inherits all of ours.
func TestEveryCommandUsesEnv(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		src := string(b)
		if !strings.Contains(src, "exec.Command") || strings.HasSuffix(path, filepath.Join("childenv", "childenv.go")) {
			return nil
		}
		n++
		if !strings.Contains(src, "childenv.Env(") {
			rel, _ := filepath.Rel(root, path)
			t.Errorf("%s starts a program without an environment from childenv.Env", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("found no exec.Command at all: is the walk wrong?")
	}
}
