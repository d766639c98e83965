package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/pixpool/pixpool/store/storetest"
)

// BenchmarkPutImage: the deduplication lookup's cost on an upload.
func BenchmarkPutImage(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "pixpool.db"))
	if err != nil {
		b.Fatalf("Open()=%v", err)
	}
	defer s.Close()
	storetest.BenchPutImage(b, s, 10_000)
}
