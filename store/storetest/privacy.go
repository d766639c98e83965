package storetest

import (
	"slices"
	"testing"

	"github.com/pixpool/pixpool"
)

// testImagePrivacy: an image's metadata, kept original and source
// checksum are stored, listed, and handed back when the row is replaced
// or deleted (so the original can be removed), and the original is among
// the blobs still needed.
func testImagePrivacy(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	img := newImage(u.ID, "trip/lake.jpg", 1)
	img.Metadata = `{"make":"TestCam","gps":{"latitude":46.5,"longitude":6.6},"stripped":["GPS position"]}`
	img.OriginalKey, img.OriginalSize = "orig/ab/ab01.jpeg", 4321
	img.SourceChecksum = "5ca1ab1e"
	if _, err := s.PutImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	same := func(what string, got *pixpool.Image) {
		t.Helper()
		if got.Metadata != img.Metadata || got.OriginalKey != img.OriginalKey || got.OriginalSize != img.OriginalSize ||
			got.SourceChecksum != img.SourceChecksum {
			t.Fatalf("%s: Metadata %q, OriginalKey %q, OriginalSize %d, SourceChecksum %q; want %q, %q, %d, %q", what,
				got.Metadata, got.OriginalKey, got.OriginalSize, got.SourceChecksum,
				img.Metadata, img.OriginalKey, img.OriginalSize, img.SourceChecksum)
		}
	}
	got, err := s.Image(ctx, u.ID, img.Key)
	if err != nil {
		t.Fatal(err)
	}
	same("Image", got)
	list, err := s.Images(ctx, pixpool.ImageFilter{OwnerID: u.ID})
	if err != nil || len(list) != 1 {
		t.Fatalf("Images()=%d, %v", len(list), err)
	}
	same("Images", list[0])
	var keys []string
	if err := s.ImageBlobKeys(ctx, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(keys, img.OriginalKey) {
		t.Errorf("ImageBlobKeys()=%q, want the original %q in it", keys, img.OriginalKey)
	}

	// Replaced by an upload without metadata: the old row comes back
	// whole, the new one has none.
	v2 := newImage(u.ID, img.Key, 2)
	old, err := s.PutImage(ctx, v2)
	if err != nil || old == nil {
		t.Fatalf("PutImage(replace)=%v, %v", old, err)
	}
	same("replaced row", old)
	got, err = s.Image(ctx, u.ID, img.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Metadata != "" || got.OriginalKey != "" || got.OriginalSize != 0 || got.SourceChecksum != "" {
		t.Fatalf("after replacing: %+v, want no metadata or original", got)
	}

	// Deleted: the row comes back with its original, to remove it.
	img.ID = 0
	img.Key = "other.jpg"
	if _, err := s.PutImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	del, err := s.DeleteImage(ctx, u.ID, "other.jpg")
	if err != nil {
		t.Fatal(err)
	}
	same("deleted row", del)
}
