package fs_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/blob/blobtest"
	blobfs "github.com/pixpool/pixpool/blob/fs"
)

func TestStore(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) pixpool.BlobStore {
		return mustOpen(t, t.TempDir())
	})
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := mustOpen(t, dir)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("Open did not create %s: %v", dir, err)
	}
	// Opening again keeps what is there.
	put(t, s, "k", "v")
	s2 := mustOpen(t, dir)
	if got, want := get(t, s2, "k"), "v"; got != want {
		t.Fatalf("Get after reopening=%q, want %q", got, want)
	}
	if _, err := blobfs.Open(""); err == nil {
		t.Fatal(`Open("") succeeded`)
	}
}

func TestStore_Layout(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	put(t, s, "img/ab/cdef.jpg", "jpeg")
	b, err := os.ReadFile(filepath.Join(dir, "img", "ab", "cdef.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "jpeg"; got != want {
		t.Fatalf("file holds %q, want %q", got, want)
	}
	// Neither a successful nor a failed Put leaves a temporary.
	if err := s.Put(t.Context(), "img/ab/fail.jpg", iotestErrReader{}); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	if got := tmpFiles(t, dir); len(got) != 0 {
		t.Fatalf("temporaries left behind: %v", got)
	}
}

func TestStore_Get(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	put(t, s, "k", "v")
	rc, err := s.Get(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.(*os.File); !ok {
		t.Fatalf("Get returned a %T, want an *os.File", rc)
	}
}

// A key cannot be both a file and the folder of other keys.
func TestStore_KeyFolderClash(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	ctx := t.Context()
	put(t, s, "a/b", "ab")
	put(t, s, "c", "c")
	for _, key := range []string{"a", "c/d", "c/d/e"} {
		err := s.Put(ctx, key, bytes.NewReader([]byte("x")))
		if got, want := pixpool.ErrorCode(err), pixpool.ECONFLICT; got != want {
			t.Errorf("Put(%q) returned %v, want code %s", key, err, want)
		}
		if _, err := s.Get(ctx, key); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Errorf("Get(%q) returned %v, want code %s", key, err, pixpool.ENOTFOUND)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q): %v", key, err)
		}
	}
	if got, want := get(t, s, "a/b"), "ab"; got != want {
		t.Fatalf("Get(a/b)=%q, want %q", got, want)
	}
	// Once "a/b" is deleted, the empty folder left behind does not block "a".
	if err := s.Delete(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	put(t, s, "a", "a")
	if got, want := get(t, s, "a"), "a"; got != want {
		t.Fatalf("Get(a)=%q, want %q", got, want)
	}
	if got, want := len(tmpFiles(t, s.Dir())), 0; got != want {
		t.Fatalf("%d temporaries left behind, want %d", got, want)
	}
}

// List reports neither temporaries nor files that are not valid keys.
func TestStore_ListSkipsStrays(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	put(t, s, "img/ab/cdef.jpg", "x")
	for _, name := range []string{
		".tmp/put-123",
		".tmp/put-456",
		"README.TXT",
		".DS_Store",
		"img/.DS_Store",
		"img/Thumbs.db",
		"img/ab/cdef.jpg~ ",
		"Upper/x",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("stray"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, prefix := range []string{"", "img/", "img/ab/cdef.jpg"} {
		var got []string
		err := s.List(t.Context(), prefix, func(bi pixpool.BlobInfo) error {
			got = append(got, bi.Key)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != "img/ab/cdef.jpg" {
			t.Errorf("List(%q)=%q, want [img/ab/cdef.jpg]", prefix, got)
		}
	}
}

func TestStore_SweepTemp(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	put(t, s, "img/ab/cdef.jpg", "kept")
	old := time.Now().Add(-2 * time.Hour)
	for _, name := range []string{"put-old1", "put-old2", "put-new"} {
		p := filepath.Join(dir, ".tmp", name)
		if err := os.WriteFile(p, []byte("half a value"), 0o600); err != nil {
			t.Fatal(err)
		}
		if name != "put-new" {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}

	n, err := s.SweepTemp(time.Hour)
	if err != nil {
		t.Fatalf("SweepTemp: %v", err)
	}
	if got, want := n, 2; got != want {
		t.Fatalf("SweepTemp(1h)=%d, want %d", got, want)
	}
	if got := tmpFiles(t, dir); len(got) != 1 || got[0] != "put-new" {
		t.Fatalf("after SweepTemp(1h) .tmp holds %v, want [put-new]", got)
	}
	if got, want := get(t, s, "img/ab/cdef.jpg"), "kept"; got != want {
		t.Fatalf("Get after SweepTemp=%q, want %q", got, want)
	}

	if n, err := s.SweepTemp(0); err != nil || n != 1 {
		t.Fatalf("SweepTemp(0)=%d, %v; want 1, nil", n, err)
	}
	if got := tmpFiles(t, dir); len(got) != 0 {
		t.Fatalf("after SweepTemp(0) .tmp holds %v, want nothing", got)
	}

	// With .tmp gone, sweeping finds nothing and Put makes it again.
	if err := os.RemoveAll(filepath.Join(dir, ".tmp")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SweepTemp(0); err != nil || n != 0 {
		t.Fatalf("SweepTemp without .tmp=%d, %v; want 0, nil", n, err)
	}
	put(t, s, "k", "v")
	if got, want := get(t, s, "k"), "v"; got != want {
		t.Fatalf("Get=%q, want %q", got, want)
	}
}

func mustOpen(t *testing.T, dir string) *blobfs.Store {
	t.Helper()
	s, err := blobfs.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func put(t *testing.T, s *blobfs.Store, key, val string) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader([]byte(val))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s *blobfs.Store, key string) string {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return b.String()
}

// tmpFiles returns the names in dir/.tmp.
func tmpFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, ".tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, os.ErrClosed }
