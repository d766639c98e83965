package storetest

import (
	"testing"

	"github.com/pixpool/pixpool"
)

// testTrashIDsNotReused: an entry's id is never given to a later one, even
// after the newest entry was purged, so a purge or restore of an id sent
// twice (an HTTP retry, a second tab still showing the purged entry)
// finds nothing rather than another image, which it would delete for good.
func testTrashIDsNotReused(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	putImage(t, s, ada.ID, "a")
	putImage(t, s, ada.ID, "b")
	a := trashImage(t, s, ada.ID, "a", t0)
	if _, err := s.PurgeTrash(ctx, ada.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	b := trashImage(t, s, ada.ID, "b", t0)
	if b.ID == a.ID {
		t.Fatalf("the entry trashed after purging entry %d got its id again", a.ID)
	}
	_, err := s.PurgeTrash(ctx, ada.ID, a.ID)
	wantCode(t, "PurgeTrash(a purged id, again)", err, pixpool.ENOTFOUND)
	if n, _ := s.CountTrash(ctx, ada.ID); n != 1 {
		t.Fatalf("CountTrash()=%d, want b's entry left", n)
	}
}
