package storetest

import (
	"testing"

	"github.com/pixpool/pixpool"
)

// testDedupKeepsOriginal: an upload that keeps its original (the admins
// turned KeepOriginals on) does not share the files of an identical image
// stored without one: sharing would drop the upload's original, its
// metadata lost for good. The other way round, sharing is fine.
func testDedupKeepsOriginal(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bare := dupImage(ada.ID, "bare", "1")
	bare.OriginalKey, bare.OriginalSize = "", 0
	if _, err := s.PutImage(ctx, bare); err != nil {
		t.Fatal(err)
	}
	kept := dupImage(ada.ID, "kept", "2")
	kept.OriginalSize = 99
	if _, err := s.PutImage(ctx, kept); err != nil {
		t.Fatal(err)
	}
	if kept.OriginalKey != "orig/2" || kept.BlobKey != "img/2" {
		t.Fatalf("upload with an original=%q, %q; want its own files, orig/2 kept", kept.BlobKey, kept.OriginalKey)
	}
	again := dupImage(ada.ID, "again", "3")
	again.OriginalKey = ""
	if _, err := s.PutImage(ctx, again); err != nil {
		t.Fatal(err)
	}
	if again.BlobKey == "img/3" {
		t.Fatalf("upload without an original kept its own files, want them shared")
	}
	// With bare's original-less files gone, the next copy with an
	// original shares kept's.
	if _, err := s.DeleteImage(ctx, ada.ID, "bare"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteImage(ctx, ada.ID, "again"); err != nil {
		t.Fatal(err)
	}
	fourth := dupImage(ada.ID, "fourth", "4")
	if _, err := s.PutImage(ctx, fourth); err != nil {
		t.Fatal(err)
	}
	if fourth.BlobKey != "img/2" || fourth.OriginalKey != "orig/2" {
		t.Fatalf("copy of kept=%q, %q; want kept's files", fourth.BlobKey, fourth.OriginalKey)
	}
}
