package sqlite

import (
	"path/filepath"
	"sync"
	"testing"
)

// TestOpen_AtOnce: replicas on one host started together open a database
// file that does not exist yet at the same moment; each must open it.
func TestOpen_AtOnce(t *testing.T) {
	for i := range 20 {
		path := filepath.Join(t.TempDir(), "pixpool.db")
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for j := range errs {
			wg.Go(func() {
				s, err := Open(path)
				if err == nil {
					err = s.Close()
				}
				errs[j] = err
			})
		}
		wg.Wait()
		for j, err := range errs {
			if err != nil {
				t.Fatalf("round %d, opener %d: %v", i, j, err)
			}
		}
	}
}
