package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// createShare stores a share of owner's and fails t on error.
func createShare(t *testing.T, s pixpool.Store, sh *pixpool.Share) *pixpool.Share {
	t.Helper()
	if err := s.CreateShare(t.Context(), sh); err != nil {
		t.Fatalf("CreateShare(%+v)=%v", sh, err)
	}
	if sh.ID == 0 {
		t.Fatalf("CreateShare set no ID")
	}
	return sh
}

func checkShare(t *testing.T, got, want *pixpool.Share) {
	t.Helper()
	if got == nil {
		t.Fatalf("share=nil, want %+v", want)
	}
	if got.ID != want.ID || got.OwnerID != want.OwnerID || got.Kind != want.Kind || got.Key != want.Key ||
		got.Title != want.Title || got.MaxViews != want.MaxViews || got.Views != want.Views {
		t.Fatalf("share=%+v, want %+v", got, want)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkTime(t, "RevokedAt", got.RevokedAt, want.RevokedAt)
}

func testShare(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ann")
	img := createShare(t, s, &pixpool.Share{OwnerID: u.ID, Kind: pixpool.ShareImage, Key: "cats/tom.jpg", Title: "Tom",
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), MaxViews: 3})
	album := createShare(t, s, &pixpool.Share{OwnerID: u.ID, Kind: pixpool.ShareAlbum, Key: "Ünïcode/ holiday/", CreatedAt: t0.Add(time.Minute)})
	if img.ID == album.ID {
		t.Fatalf("two shares have ID %d", img.ID)
	}
	for _, want := range []*pixpool.Share{img, album} {
		got, err := s.Share(ctx, want.ID)
		if err != nil {
			t.Fatalf("Share(%d)=%v", want.ID, err)
		}
		checkShare(t, got, want)
	}
	_, err := s.Share(ctx, album.ID+100)
	wantCode(t, "Share(missing)", err, pixpool.ENOTFOUND)

	t.Run("CreatedAtDefault", func(t *testing.T) {
		before := time.Now()
		sh := createShare(t, s, &pixpool.Share{OwnerID: u.ID, Kind: pixpool.ShareImage, Key: "k"})
		checkBetween(t, "CreatedAt", sh.CreatedAt, before, time.Now())
	})
}

func testShares(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ann, bob := createUser(t, s, "ann"), createUser(t, s, "bob")
	a1 := createShare(t, s, &pixpool.Share{OwnerID: ann.ID, Kind: pixpool.ShareImage, Key: "a", CreatedAt: t0})
	b1 := createShare(t, s, &pixpool.Share{OwnerID: bob.ID, Kind: pixpool.ShareImage, Key: "b", CreatedAt: t0.Add(time.Second)})
	a2 := createShare(t, s, &pixpool.Share{OwnerID: ann.ID, Kind: pixpool.ShareAlbum, Key: "p/", CreatedAt: t0.Add(2 * time.Second)})
	got, err := s.Shares(ctx, ann.ID)
	if err != nil {
		t.Fatalf("Shares(ann)=%v", err)
	}
	if len(got) != 2 {
		t.Fatalf("Shares(ann)=%d shares, want 2", len(got))
	}
	checkShare(t, got[0], a2) // newest first
	checkShare(t, got[1], a1)
	got, err = s.Shares(ctx, bob.ID)
	if err != nil || len(got) != 1 {
		t.Fatalf("Shares(bob)=%d shares, %v; want 1", len(got), err)
	}
	checkShare(t, got[0], b1)
	if got, err := s.Shares(ctx, bob.ID+ann.ID+100); err != nil || len(got) != 0 {
		t.Fatalf("Shares(nobody)=%v, %v; want none", got, err)
	}
}

func testRevokeShare(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ann, bob := createUser(t, s, "ann"), createUser(t, s, "bob")
	sh := createShare(t, s, &pixpool.Share{OwnerID: ann.ID, Kind: pixpool.ShareImage, Key: "a", CreatedAt: t0})
	_, err := s.RevokeShare(ctx, bob.ID, sh.ID, t0.Add(time.Minute))
	wantCode(t, "RevokeShare(another owner's)", err, pixpool.ENOTFOUND)
	_, err = s.RevokeShare(ctx, ann.ID, sh.ID+100, t0.Add(time.Minute))
	wantCode(t, "RevokeShare(missing)", err, pixpool.ENOTFOUND)
	if got, _ := s.Share(ctx, sh.ID); !got.RevokedAt.IsZero() {
		t.Fatalf("another owner revoked the share: %+v", got)
	}

	got, err := s.RevokeShare(ctx, ann.ID, sh.ID, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("RevokeShare=%v", err)
	}
	checkTime(t, "RevokedAt", got.RevokedAt, t0.Add(time.Minute))
	got, err = s.RevokeShare(ctx, ann.ID, sh.ID, t0.Add(time.Hour))
	if err != nil {
		t.Fatalf("RevokeShare again=%v", err)
	}
	checkTime(t, "RevokedAt after a second revoke", got.RevokedAt, t0.Add(time.Minute))
	if got.Status(t0.Add(2*time.Minute)) != pixpool.ShareRevoked {
		t.Fatalf("Status=%q, want revoked", got.Status(t0))
	}
}

func testViewShare(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ann := createUser(t, s, "ann")
	view := func(id int64, now time.Time) (*pixpool.Share, bool) {
		t.Helper()
		sh, counted, err := s.ViewShare(ctx, id, now)
		if err != nil {
			t.Fatalf("ViewShare(%d)=%v", id, err)
		}
		return sh, counted
	}

	t.Run("Limit", func(t *testing.T) {
		sh := createShare(t, s, &pixpool.Share{OwnerID: ann.ID, Kind: pixpool.ShareImage, Key: "a", CreatedAt: t0, MaxViews: 2})
		for want := int64(1); want <= 2; want++ {
			got, counted := view(sh.ID, t0)
			if !counted || got.Views != want {
				t.Fatalf("view %d: counted=%v views=%d, want counted, %d", want, counted, got.Views, want)
			}
		}
		got, counted := view(sh.ID, t0)
		if counted || got.Views != 2 || got.Status(t0) != pixpool.ShareUsedUp {
			t.Fatalf("view past the limit: counted=%v views=%d status %q, want not counted, 2, used_up", counted, got.Views, got.Status(t0))
		}
	})
	t.Run("NoLimit", func(t *testing.T) {
		sh := createShare(t, s, &pixpool.Share{OwnerID: ann.ID, Kind: pixpool.ShareImage, Key: "a", CreatedAt: t0})
		for range 5 {
			view(sh.ID, t0)
		}
		if got, counted := view(sh.ID, t0.Add(100*365*24*time.Hour)); !counted || got.Views != 6 {
			t.Fatalf("counted=%v views=%d, want counted, 6", counted, got.Views)
		}
	})
	t.Run("Expired", func(t *testing.T) {
		exp := t0.Add(time.Hour)
		sh := createShare(t, s, &pixpool.Share{OwnerID: ann.ID, Kind: pixpool.ShareImage, Key: "a", CreatedAt: t0, ExpiresAt: exp})
		if _, counted := view(sh.ID, exp.Add(-time.Millisecond)); !counted {
			t.Fatalf("a view a millisecond before expiry did not count")
		}
		got, counted := view(sh.ID, exp)
		if counted || got.Views != 1 || got.Status(exp) != pixpool.ShareExpired {
			t.Fatalf("view at expiry: counted=%v views=%d status %q, want not counted, 1, expired", counted, got.Views, got.Status(exp))
		}
	})
	t.Run("Revoked", func(t *testing.T) {
		sh := createShare(t, s, &pixpool.Share{OwnerID: ann.ID, Kind: pixpool.ShareImage, Key: "a", CreatedAt: t0})
		if _, err := s.RevokeShare(ctx, ann.ID, sh.ID, t0); err != nil {
			t.Fatal(err)
		}
		got, counted := view(sh.ID, t0)
		if counted || got.Views != 0 || got.Status(t0) != pixpool.ShareRevoked {
			t.Fatalf("view of a revoked share: counted=%v views=%d status %q", counted, got.Views, got.Status(t0))
		}
	})
	t.Run("OwnerDisabled", func(t *testing.T) {
		bob := createUser(t, s, "bob")
		sh := createShare(t, s, &pixpool.Share{OwnerID: bob.ID, Kind: pixpool.ShareImage, Key: "a", CreatedAt: t0})
		bob.Disabled = true
		if err := s.UpdateUser(ctx, bob); err != nil {
			t.Fatal(err)
		}
		if got, counted := view(sh.ID, t0); counted || got.Views != 0 {
			t.Fatalf("view of a disabled owner's share: counted=%v views=%d, want not counted", counted, got.Views)
		}
		bob.Disabled = false
		if err := s.UpdateUser(ctx, bob); err != nil {
			t.Fatal(err)
		}
		if got, counted := view(sh.ID, t0); !counted || got.Views != 1 {
			t.Fatalf("view once enabled again: counted=%v views=%d, want counted", counted, got.Views)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		_, _, err := s.ViewShare(ctx, 1<<40, t0)
		wantCode(t, "ViewShare(missing)", err, pixpool.ENOTFOUND)
	})
}

// testViewShareConcurrent: 20 viewers at once of a share with a limit of
// 5 views: exactly 5 count.
func testViewShareConcurrent(t *testing.T, s pixpool.Store) {
	ann := createUser(t, s, "ann")
	sh := createShare(t, s, &pixpool.Share{OwnerID: ann.ID, Kind: pixpool.ShareAlbum, Key: "p/", CreatedAt: t0, MaxViews: 5})
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		counted int
		errs    []error
	)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := s.ViewShare(t.Context(), sh.ID, t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				counted++
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("ViewShare failed: %v", errs)
	}
	if counted != 5 {
		t.Fatalf("%d views counted, want exactly 5", counted)
	}
	got, err := s.Share(t.Context(), sh.ID)
	if err != nil || got.Views != 5 {
		t.Fatalf("Share=%+v, %v; want 5 views", got, err)
	}
}

// testShareRestore: a restore replaces the accounts, and the shares of the
// accounts it removes go with them (no share may come to point at another
// user who got the same id).
func testShareRestore(t *testing.T, s pixpool.Store) {
	ann := createUser(t, s, "ann")
	sh := createShare(t, s, &pixpool.Share{OwnerID: ann.ID, Kind: pixpool.ShareImage, Key: "a", CreatedAt: t0})
	err := s.ImportTables(t.Context(), nil, func(yield func(*pixpool.BackupTableDef, []any) error) error { return nil })
	if err != nil {
		t.Fatalf("ImportTables(nothing)=%v", err)
	}
	_, err = s.Share(t.Context(), sh.ID)
	wantCode(t, "Share after a restore without its owner", err, pixpool.ENOTFOUND)
}
