package sqlite

import (
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// TestStore_PoolKeepsConnections runs the lookups of the read path from
// many goroutines at once, twice, and checks that the pool never closed a
// connection for want of an idle slot (and so never opened one per
// request): every connection it opened is still open, at most maxConns.
// (The second round may open a few more than the first, as the goroutines
// happen to overlap more; the pool grows to its bound and stays there.)
func TestStore_PoolKeepsConnections(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	u := &pixpool.User{Username: "ada", FirstName: "Ada", LastName: "L", Email: "ada@example.org",
		Birthday: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), Phone: "+44 20 7946 0000"}
	if err := s.CreateUser(ctx, u, "hash"); err != nil {
		t.Fatal(err)
	}
	k := &pixpool.APIKey{UserID: u.ID, Name: "k", Prefix: "pp_k", Hash: "hash-k"}
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutImage(ctx, &pixpool.Image{OwnerID: u.ID, Key: "a", BlobKey: "img/a", Size: 1, ContentType: "image/png", Checksum: "x"}); err != nil {
		t.Fatal(err)
	}
	load := func() {
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for range 10 {
					if _, err := s.APIKeyByHash(ctx, "hash-k"); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.User(ctx, u.ID); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.Image(ctx, u.ID, "a"); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.AuthGeneration(ctx); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	load()
	load()
	st := s.db.Stats()
	if closed := st.MaxIdleClosed + st.MaxIdleTimeClosed + st.MaxLifetimeClosed; closed != 0 {
		t.Fatalf("the pool closed %d connections (idle %d, idle time %d, lifetime %d), want 0",
			closed, st.MaxIdleClosed, st.MaxIdleTimeClosed, st.MaxLifetimeClosed)
	}
	if st.OpenConnections > maxConns || st.MaxOpenConnections != maxConns {
		t.Fatalf("OpenConnections=%d, MaxOpenConnections=%d; want at most %d", st.OpenConnections, st.MaxOpenConnections, maxConns)
	}
}
