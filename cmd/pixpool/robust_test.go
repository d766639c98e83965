package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runServeBinary runs this test binary as `pixpool serve` with args and
// returns its exit status and output; it must end by itself within 60 s.
func runServeBinary(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0", "--analyze=false"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run serve: %v\n%s", err, out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// mountTmpfs mounts a tmpfs of sizeKB KiB on a new temp folder, unmounted
// at cleanup; it skips the test where that cannot be done (not root, or no
// mount permission in a container).
func mountTmpfs(t *testing.T, sizeKB int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(sizeKB)+"k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the file system is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	if f == nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// TestServe_BadDatabase starts the real binary on a database it cannot
// open: it must say which file and why, and exit with status 1, not panic.
func TestServe_BadDatabase(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) string // returns the data folder
		cause string
	}{
		{"Folder", func(t *testing.T) string {
			data := t.TempDir()
			if err := os.Mkdir(filepath.Join(data, "pixpool.db"), 0o750); err != nil {
				t.Fatal(err)
			}
			return data
		}, "is a folder"},
		{"RandomBytes", func(t *testing.T) string {
			data := t.TempDir()
			if err := os.WriteFile(filepath.Join(data, "pixpool.db"), []byte(rand.Text()+strings.Repeat(rand.Text(), 4000)), 0o640); err != nil {
				t.Fatal(err)
			}
			return data
		}, "not a SQLite database"},
		{"FullDisk", func(t *testing.T) string {
			dir := mountTmpfs(t, 256)
			fillDisk(t, dir)
			return filepath.Join(dir, "data")
		}, "disk is full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.setup(t)
			status, out := runServeBinary(t, "--data", data, "--cache-size", "0")
			if status != 1 {
				t.Errorf("exit status %d, want 1", status)
			}
			db := filepath.Join(data, "pixpool.db")
			if strings.Contains(out, "panic") || !strings.Contains(out, db) || !strings.Contains(out, tc.cause) {
				t.Errorf("output does not name %s and %q:\n%s", db, tc.cause, out)
			}
		})
	}
}
