package sqlite

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/pixpool/pixpool"
)

// TestStore_FullDisk fills a small file system under a store that keeps a
// reserve: new images are ESTORAGEFULL, deleting one works (on the
// reserve's room), and new images stay refused while the reserve is down.
func TestStore_FullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	s := openPath(t, filepath.Join(dir, "pixpool.db"))
	s.KeepReserve(DefaultReserveBytes)
	u := &pixpool.User{Username: "ada", Email: "ada@example.org"}
	if err := s.CreateUser(t.Context(), u, "hash"); err != nil {
		t.Fatal(err)
	}
	put := func(i int) error {
		_, err := s.PutImage(t.Context(), &pixpool.Image{OwnerID: u.ID, Key: fmt.Sprint("k", i), BlobKey: fmt.Sprint("img/k", i),
			Size: 1, ContentType: "image/png", Width: 1, Height: 1, Checksum: "x"})
		return err
	}
	for i := range 10 {
		if err := put(i); err != nil {
			t.Fatal(err)
		}
	}

	f, err := os.CreateTemp(dir, "filler-*")
	if err != nil {
		t.Fatal(err)
	}
	for buf := make([]byte, 4096); ; {
		if _, err := f.Write(buf); errors.Is(err, syscall.ENOSPC) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	// Enough writes to need more room in the log than it has.
	var err2 error
	for i := 10; i < 10000 && err2 == nil; i++ {
		err2 = put(i)
	}
	if code := pixpool.ErrorCode(err2); code != pixpool.ESTORAGEFULL {
		t.Fatalf("PutImage on a full disk: %v (code %q), want %s", err2, code, pixpool.ESTORAGEFULL)
	}
	if _, err := s.DeleteImage(t.Context(), u.ID, "k1"); err != nil {
		t.Fatalf("DeleteImage on a full disk: %v", err)
	}
	if !s.LowOnSpace() {
		t.Error("LowOnSpace()=false after the reserve was used")
	}
	if code := pixpool.ErrorCode(put(20000)); code != pixpool.ESTORAGEFULL {
		t.Errorf("PutImage while the reserve is down: code %q, want %s", code, pixpool.ESTORAGEFULL)
	}
}
