package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// newVariant returns the record of a variant of spec made from src.
func newVariant(src *pixpool.Image, spec string, size int64) *pixpool.Variant {
	return &pixpool.Variant{
		BlobKey:   "var/" + src.BlobKey + "/" + spec,
		SourceKey: src.BlobKey,
		OwnerID:   src.OwnerID,
		Spec:      spec,
		Size:      size,
		CreatedAt: t0,
	}
}

func putVariant(t *testing.T, s pixpool.Store, v *pixpool.Variant) {
	t.Helper()
	if err := s.PutVariant(t.Context(), v); err != nil {
		t.Fatalf("PutVariant(%q)=%v", v.BlobKey, err)
	}
}

// specs returns the specs of vs, in order.
func specs(vs []*pixpool.Variant) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Spec)
	}
	return out
}

func testVariant(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	img := putImage(t, s, ada.ID, "cat")
	want := newVariant(img, "640x0-inside.jpeg", 1234)
	putVariant(t, s, want)

	got, err := s.Variant(ctx, img.BlobKey, "640x0-inside.jpeg")
	if err != nil {
		t.Fatalf("Variant()=%v", err)
	}
	if got.BlobKey != want.BlobKey || got.SourceKey != want.SourceKey || got.OwnerID != ada.ID || got.Spec != want.Spec || got.Size != 1234 {
		t.Fatalf("Variant()=%+v, want %+v", got, want)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, t0)

	t.Run("NotFound", func(t *testing.T) {
		_, err := s.Variant(ctx, img.BlobKey, "320x0-inside.jpeg")
		wantCode(t, "Variant(other spec)", err, pixpool.ENOTFOUND)
		_, err = s.Variant(ctx, "img/other", "640x0-inside.jpeg")
		wantCode(t, "Variant(other source)", err, pixpool.ENOTFOUND)
	})

	t.Run("Replace", func(t *testing.T) {
		again := newVariant(img, "640x0-inside.jpeg", 999)
		again.CreatedAt = t0.Add(time.Hour)
		putVariant(t, s, again)
		got, err := s.Variant(ctx, img.BlobKey, "640x0-inside.jpeg")
		if err != nil {
			t.Fatalf("Variant()=%v", err)
		}
		if got.Size != 999 {
			t.Fatalf("Size=%d after replacing, want 999", got.Size)
		}
		checkTime(t, "CreatedAt", got.CreatedAt, again.CreatedAt)
	})

	t.Run("CreatedAtDefault", func(t *testing.T) {
		v := newVariant(img, "10x10-cover.png", 1)
		v.CreatedAt = time.Time{}
		putVariant(t, s, v)
		if v.CreatedAt.IsZero() {
			t.Fatal("PutVariant left CreatedAt zero, want now")
		}
	})
}

func testVariantsOf(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	a := putImage(t, s, ada.ID, "a")
	b := putImage(t, s, ada.ID, "b")
	for _, spec := range []string{"640x0-inside.jpeg", "160x160-cover.webp", "1024x0-inside.png"} {
		putVariant(t, s, newVariant(a, spec, 10))
	}
	putVariant(t, s, newVariant(b, "640x0-inside.jpeg", 10))

	vs, err := s.VariantsOf(ctx, a.BlobKey)
	if err != nil {
		t.Fatalf("VariantsOf()=%v", err)
	}
	if got, want := specs(vs), []string{"1024x0-inside.png", "160x160-cover.webp", "640x0-inside.jpeg"}; !slices.Equal(got, want) {
		t.Fatalf("VariantsOf()=%q, want %q (bytewise by spec)", got, want)
	}
	if vs, err := s.VariantsOf(ctx, "img/none"); err != nil || len(vs) != 0 {
		t.Fatalf("VariantsOf(unknown)=%v, %v, want none", specs(vs), err)
	}
}

func testDeleteVariants(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	a := putImage(t, s, ada.ID, "a")
	b := putImage(t, s, ada.ID, "b")
	putVariant(t, s, newVariant(a, "640x0-inside.jpeg", 10))
	putVariant(t, s, newVariant(a, "320x0-inside.jpeg", 10))
	putVariant(t, s, newVariant(b, "640x0-inside.jpeg", 10))

	gone, err := s.DeleteVariants(ctx, a.BlobKey)
	if err != nil {
		t.Fatalf("DeleteVariants()=%v", err)
	}
	if got, want := specs(gone), []string{"320x0-inside.jpeg", "640x0-inside.jpeg"}; !slices.Equal(got, want) {
		t.Fatalf("DeleteVariants() returned %q, want %q", got, want)
	}
	if gone[0].BlobKey != newVariant(a, "320x0-inside.jpeg", 0).BlobKey {
		t.Fatalf("DeleteVariants()[0].BlobKey=%q, want the deleted row's", gone[0].BlobKey)
	}
	if vs, _ := s.VariantsOf(ctx, a.BlobKey); len(vs) != 0 {
		t.Fatalf("VariantsOf() after DeleteVariants=%q, want none", specs(vs))
	}
	if vs, _ := s.VariantsOf(ctx, b.BlobKey); len(vs) != 1 {
		t.Fatalf("VariantsOf(another source)=%q after DeleteVariants, want it kept", specs(vs))
	}
	if gone, err := s.DeleteVariants(ctx, a.BlobKey); err != nil || len(gone) != 0 {
		t.Fatalf("DeleteVariants() again=%v, %v, want none and no error", specs(gone), err)
	}
}

// testVariantBlobKeys: ImageBlobKeys yields the variants of images that
// exist, not those of bytes no image has any more (the sweeper removes
// them), and DeleteAllImages drops every variant's record.
func testVariantBlobKeys(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	a := putImage(t, s, ada.ID, "a")
	live := newVariant(a, "640x0-inside.jpeg", 10)
	putVariant(t, s, live)
	gone := newVariant(&pixpool.Image{OwnerID: ada.ID, BlobKey: "img/replaced"}, "640x0-inside.jpeg", 10)
	putVariant(t, s, gone)

	got := blobKeys(t, s)
	if !slices.Contains(got, live.BlobKey) {
		t.Fatalf("ImageBlobKeys()=%q, want the live image's variant %q", got, live.BlobKey)
	}
	if slices.Contains(got, gone.BlobKey) {
		t.Fatalf("ImageBlobKeys()=%q has %q, a variant of bytes no image has", got, gone.BlobKey)
	}

	if _, err := s.DeleteAllImages(ctx); err != nil {
		t.Fatalf("DeleteAllImages()=%v", err)
	}
	if vs, _ := s.VariantsOf(ctx, a.BlobKey); len(vs) != 0 {
		t.Fatalf("VariantsOf() after DeleteAllImages=%q, want none", specs(vs))
	}
}
