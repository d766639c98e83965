package text

import (
	"context"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestReader_Env: Tesseract runs with a minimal environment: none of
// serve's secrets, one OpenMP thread, its data folder if one is set.
func TestReader_Env(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("a shell script stands in for tesseract")
	}
	envProg, err := exec.LookPath("env")
	if err != nil {
		t.Skip("no env program")
	}
	secrets := map[string]string{
		"PIXPOOL_ADMIN_PASSWORD": "admin-secret",
		"PIXPOOL_DB":             "postgres://pixpool:db-secret@127.0.0.1/pixpool",
		"AWS_SECRET_ACCESS_KEY":  "aws-secret",
		"PGPASSWORD":             "pg-secret",
		"DATABASE_URL":           "postgres://u:dburl-secret@127.0.0.1/x",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	t.Setenv("TESSDATA_PREFIX", "/opt/tessdata")
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	// A stand-in for tesseract that records its environment.
	fake := filepath.Join(dir, "tesseract")
	script := "#!/bin/sh\n" + envProg + " >> " + out + "\necho ---- >> " + out + "\ncat > /dev/null\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	available(context.Background(), fake) // --list-langs
	img := image.NewGray(image.Rect(0, 0, 64, 32))
	(&Reader{Command: fake}).Read(context.Background(), img)

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the stand-in did not run: %v", err)
	}
	runs := strings.Split(strings.TrimSuffix(string(b), "----\n"), "----\n")
	if len(runs) < 2 {
		t.Fatalf("tesseract ran %d times, want --list-langs and a read", len(runs))
	}
	for i, run := range runs {
		env := strings.Split(strings.TrimSpace(run), "\n")
		for _, kv := range env {
			name, value, _ := strings.Cut(kv, "=")
			if _, ok := secrets[name]; ok || strings.Contains(value, "secret") {
				t.Errorf("run %d: tesseract's environment has %s", i, kv)
			}
		}
		for _, want := range []string{"OMP_THREAD_LIMIT=1", "TESSDATA_PREFIX=/opt/tessdata"} {
			found := false
			for _, kv := range env {
				found = found || kv == want
			}
			if !found {
				t.Errorf("run %d: tesseract's environment lacks %s: %q", i, want, env)
			}
		}
	}
}
