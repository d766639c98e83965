package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// quotaTests are the QuotaStore tests, which Run runs.
func quotaTests() []struct {
	name string
	fn   func(t *testing.T, s pixpool.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s pixpool.Store)
	}{
		{"Usage", testUsage},
		{"Usage/Dedup", testUsageDedup},
		{"Usage/OrphanVariants", testUsageOrphanVariants},
		{"SetThumbSize", testSetThumbSize},
		{"SetUserQuota", testSetUserQuota},
	}
}

func usage(t *testing.T, s pixpool.Store, ownerID int64) pixpool.Usage {
	t.Helper()
	u, err := s.Usage(t.Context(), ownerID)
	if err != nil {
		t.Fatalf("Usage(%d)=%v", ownerID, err)
	}
	return u
}

// blobImage is an image of owner's under key with blob keys of the form
// pixpool gives, named after id (32 hex digits), and the given sizes.
func blobImage(ownerID int64, key, id string, size, thumb, orig int64) *pixpool.Image {
	img := newImage(ownerID, key, 1)
	img.BlobKey = pixpool.ImageBlobKey(id, "png")
	img.ThumbKey = pixpool.ThumbBlobKey(id)
	img.Size, img.ThumbSize = size, thumb
	if orig > 0 {
		img.OriginalKey, img.OriginalSize = pixpool.OriginalBlobKey(id, "png"), orig
	}
	return img
}

func mustPut(t *testing.T, s pixpool.Store, img *pixpool.Image) {
	t.Helper()
	if _, err := s.PutImage(t.Context(), img); err != nil {
		t.Fatalf("PutImage(%q)=%v", img.Key, err)
	}
}

const (
	blobA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	blobB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	blobC = "cccccccccccccccccccccccccccccccc"
)

func testUsage(t *testing.T, s pixpool.Store) {
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	if got := usage(t, s, ada.ID); got != (pixpool.Usage{}) {
		t.Fatalf("Usage of a user with nothing=%+v, want zero", got)
	}
	if got := usage(t, s, 999999); got != (pixpool.Usage{}) {
		t.Fatalf("Usage of a missing user=%+v, want zero", got)
	}
	mustPut(t, s, blobImage(ada.ID, "a", blobA, 1000, 100, 0))
	mustPut(t, s, blobImage(ada.ID, "b", blobB, 2000, 200, 5000))
	mustPut(t, s, blobImage(bob.ID, "c", blobC, 40000, 400, 0))
	if got, want := usage(t, s, ada.ID), (pixpool.Usage{Bytes: 1100 + 7200, Images: 2}); got != want {
		t.Fatalf("Usage(ada)=%+v, want %+v", got, want)
	}
	// A replace counts the new row only.
	mustPut(t, s, blobImage(ada.ID, "b", blobC, 300, 0, 0))
	if got, want := usage(t, s, ada.ID), (pixpool.Usage{Bytes: 1100 + 300, Images: 2}); got != want {
		t.Fatalf("Usage(ada) after a replace=%+v, want %+v", got, want)
	}
	if got, want := usage(t, s, bob.ID), (pixpool.Usage{Bytes: 40400, Images: 1}); got != want {
		t.Fatalf("Usage(bob)=%+v, want %+v", got, want)
	}
}

// testUsageDedup: rows sharing a blob key (identical images stored once)
// count their bytes once, and each as an image.
func testUsageDedup(t *testing.T, s pixpool.Store) {
	ada := createUser(t, s, "ada")
	mustPut(t, s, blobImage(ada.ID, "one", blobA, 1000, 100, 0))
	mustPut(t, s, blobImage(ada.ID, "two", blobA, 1000, 100, 0))
	mustPut(t, s, blobImage(ada.ID, "three", blobB, 10, 0, 0))
	if got, want := usage(t, s, ada.ID), (pixpool.Usage{Bytes: 1110, Images: 3}); got != want {
		t.Fatalf("Usage=%+v, want %+v", got, want)
	}
}

func testSetThumbSize(t *testing.T, s pixpool.Store) {
	ada := createUser(t, s, "ada")
	mustPut(t, s, blobImage(ada.ID, "a", blobA, 1000, 0, 0))
	mustPut(t, s, blobImage(ada.ID, "b", blobB, 1000, 0, 0))
	if err := s.SetThumbSize(t.Context(), pixpool.ThumbBlobKey(blobA), 321); err != nil {
		t.Fatalf("SetThumbSize()=%v", err)
	}
	img, err := s.Image(t.Context(), ada.ID, "a")
	if err != nil {
		t.Fatalf("Image()=%v", err)
	}
	if img.ThumbSize != 321 {
		t.Fatalf("ThumbSize=%d, want 321", img.ThumbSize)
	}
	if got, want := usage(t, s, ada.ID).Bytes, int64(2321); got != want {
		t.Fatalf("Usage.Bytes=%d, want %d (the other image's thumbnail untouched)", got, want)
	}
	for _, key := range []string{pixpool.ThumbBlobKey(blobC), "thumbs/odd"} {
		if err := s.SetThumbSize(t.Context(), key, 5); err != nil {
			t.Fatalf("SetThumbSize(%q) of no image=%v, want nil", key, err)
		}
	}
}

func testSetUserQuota(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	if ada.QuotaBytes != nil || ada.QuotaImages != nil {
		t.Fatalf("new user's quotas=%v,%v, want nil (the default)", ada.QuotaBytes, ada.QuotaImages)
	}
	b, n := int64(100<<20), int64(0)
	if err := s.SetUserQuota(ctx, ada.ID, &b, &n); err != nil {
		t.Fatalf("SetUserQuota()=%v", err)
	}
	got, err := s.User(ctx, ada.ID)
	if err != nil {
		t.Fatalf("User()=%v", err)
	}
	if got.QuotaBytes == nil || *got.QuotaBytes != b || got.QuotaImages == nil || *got.QuotaImages != 0 {
		t.Fatalf("quotas=%v,%v, want %d,0", got.QuotaBytes, got.QuotaImages, b)
	}
	// UpdateUser leaves the quotas, whatever the value says.
	got.QuotaBytes, got.QuotaImages = nil, nil
	got.FirstName = "Augusta"
	if err := s.UpdateUser(ctx, got); err != nil {
		t.Fatalf("UpdateUser()=%v", err)
	}
	users, err := s.Users(ctx, 0, 0)
	if err != nil {
		t.Fatalf("Users()=%v", err)
	}
	if u := users[0]; u.QuotaBytes == nil || *u.QuotaBytes != b || u.QuotaImages == nil || *u.QuotaImages != 0 {
		t.Fatalf("quotas after UpdateUser=%v,%v, want %d,0", u.QuotaBytes, u.QuotaImages, b)
	}
	if err := s.SetUserQuota(ctx, ada.ID, nil, nil); err != nil {
		t.Fatalf("SetUserQuota(nil, nil)=%v", err)
	}
	if got, err := s.UserByUsername(ctx, "ada"); err != nil || got.QuotaBytes != nil || got.QuotaImages != nil {
		t.Fatalf("UserByUsername()=%+v, %v, want quotas nil", got, err)
	}
	wantCode(t, "SetUserQuota(missing)", s.SetUserQuota(ctx, 999999, &b, nil), pixpool.ENOTFOUND)
	neg := int64(-1)
	wantCode(t, "SetUserQuota(-1)", s.SetUserQuota(ctx, ada.ID, &neg, nil), pixpool.EINVALID)
}

// BenchUsage measures Usage, which every upload under a quota runs, for
// one owner with n images (and n/10 in the trash), after restoring them
// into the empty store s.
func BenchUsage(b *testing.B, s pixpool.Store, n int) {
	tm := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rows := []backupRow{{pixpool.BackupTable("users"), []any{int64(1), "owner", "First", "Last",
		"owner@example.org", "1990-05-17", "", false, false, "hash", tm, tm, nil, nil}}}
	for i := range int64(n) {
		id := fmt.Sprintf("%032x", i)
		rows = append(rows, backupRow{pixpool.BackupTable("images"), []any{i + 1, int64(1), fmt.Sprintf("photos/%07d.jpg", i),
			pixpool.ImageBlobKey(id, "jpeg"), pixpool.ThumbBlobKey(id), int64(123456), "image/jpeg", int64(4000), int64(3000), "sum", tm,
			int64(20000), "", int64(0), "", ""}})
	}
	for i := range int64(n / 10) {
		id := fmt.Sprintf("%032x", int64(n)+i)
		rows = append(rows, backupRow{pixpool.BackupTable("trash"), []any{i + 1, int64(1), fmt.Sprintf("old/%07d.jpg", i),
			pixpool.ImageBlobKey(id, "jpeg"), pixpool.ThumbBlobKey(id), int64(123456), "image/jpeg", int64(4000), int64(3000), "sum", tm,
			int64(20000), "", int64(0), "", "", tm, tm}})
	}
	if err := restore(b, s, nil, rows); err != nil {
		b.Fatalf("ImportTables()=%v", err)
	}
	for b.Loop() {
		u, err := s.Usage(b.Context(), 1)
		if err != nil || u.Images != int64(n+n/10) {
			b.Fatalf("Usage()=%+v, %v", u, err)
		}
	}
}

// testUsageOrphanVariants: a variant whose source no image or trash row
// has any more (left by a delete interrupted before its variants were
// removed, which the sweeper then clears from the blob store) is not
// counted: its owner could never free it.
func testUsageOrphanVariants(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	img := blobImage(ada.ID, "a", blobA, 1000, 100, 0)
	mustPut(t, s, img)
	for _, v := range []*pixpool.Variant{
		{BlobKey: "var/aa/" + blobA + "/640x0-inside.png", SourceKey: img.BlobKey, OwnerID: ada.ID, Spec: "640x0-inside.png", Size: 70},
		{BlobKey: "var/bb/" + blobB + "/640x0-inside.png", SourceKey: pixpool.ImageBlobKey(blobB, "png"), OwnerID: ada.ID, Spec: "640x0-inside.png", Size: 5000},
	} {
		if err := s.PutVariant(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := usage(t, s, ada.ID), (pixpool.Usage{Bytes: 1170, Images: 1, VariantBytes: 70}); got != want {
		t.Fatalf("Usage=%+v, want %+v (the orphan variant not counted)", got, want)
	}
}
