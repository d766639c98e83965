package postgres

import (
	"testing"

	"github.com/pixpool/pixpool/store/storetest"
)

// BenchmarkPutImage: the deduplication lookup's cost on an upload.
func BenchmarkPutImage(b *testing.B) {
	storetest.BenchPutImage(b, openDSN(b, newDatabase(b)), 10_000)
}
