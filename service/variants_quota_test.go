package service

import (
	"context"
	"image/color"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pixpool/pixpool"
)

// A variant's bytes count in its owner's usage, so a user at their quota
// must not grow it by asking for variants (each signed size is a new
// one): a variant that does not fit is served, but not stored.
func TestVariant_Quota(t *testing.T) {
	f, cache, _ := variantFixture(t)
	ctx := t.Context()
	data := jpegOf(t, 1200, 800, color.RGBA{200, 30, 30, 255})
	if _, err := f.images.Put(ctx, f.owner, "cat", data); err != nil {
		t.Fatal(err)
	}
	f.images.Wait()
	used := f.usage(t).Bytes
	f.withPolicy(t, pixpool.Policy{QuotaBytes: used + 1000, TrashDays: 30})

	for _, w := range []string{"1000", "900", "800", "700"} {
		s := spec(t, w, "", "", "png")
		sig, err := f.images.SignVariant(ctx, f.owner, "cat", s)
		if err != nil {
			t.Fatal(err)
		}
		img, got, err := f.images.Variant(ctx, f.owner, "cat", s, sig)
		if err != nil || len(got) == 0 || img.ContentType != "image/png" {
			t.Fatalf("Variant(w=%s) over quota=%v, %d bytes; want it served all the same", w, err, len(got))
		}
		if img.BlobKey != "" {
			t.Fatalf("Variant(w=%s).BlobKey=%q, want none: it is not stored", w, img.BlobKey)
		}
	}
	if u := f.usage(t); u.Bytes > used+1000 || u.VariantBytes != 0 {
		t.Fatalf("usage %+v after variants over the quota of %d bytes; want the variants not kept", u, used+1000)
	}
	if vb := f.variantBlobs(t); len(vb) != 0 {
		t.Fatalf("variant blobs %q, want none kept over the quota", vb)
	}
	// Nor cached under the variant's key: no record would let a replace
	// find the entry, and the old picture would be served after it. It is
	// cached under its source's blob id instead, so not rendered again.
	base := CacheKey(f.owner, "cat") + "~"
	cache.mu.Lock()
	unkept := 0
	for k := range cache.m {
		if strings.HasPrefix(k, base) {
			t.Errorf("cache entry %q of a variant not stored", k)
		}
		if strings.HasPrefix(k, "i:v:") {
			unkept++
		}
	}
	cache.mu.Unlock()
	if unkept != 4 {
		t.Errorf("%d cache entries of variants not stored, want 4", unkept)
	}
	s := spec(t, "1000", "", "", "png")
	sig, _ := f.images.SignVariant(ctx, f.owner, "cat", s)
	f.images.Blobs = &countingBlobs{BlobStore: f.blobs}
	if _, again, err := f.images.Variant(ctx, f.owner, "cat", s, sig); err != nil || len(again) == 0 {
		t.Fatalf("Variant() again=%v", err)
	}
	if n := f.images.Blobs.(*countingBlobs).gets.Load(); n != 0 {
		t.Fatalf("asking again read %d blobs, want the variant from the cache, not rendered again", n)
	}
	f.images.Blobs = f.blobs
	if _, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 1200, 800, color.RGBA{30, 30, 200, 255})); err != nil {
		t.Fatal(err)
	}
	if _, got, err := f.images.Variant(ctx, f.owner, "cat", s, sig); err != nil || colorOf(t, got).B < 150 {
		t.Fatalf("Variant() after a replace=%v, %v; want the new (blue) picture", err, colorOf(t, got))
	}

	// Within the quota a variant is kept as before.
	f.withPolicy(t, pixpool.Policy{TrashDays: 30})
	if _, _, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "160", "", "", ""), ""); err != nil {
		t.Fatal(err)
	}
	if vb := f.variantBlobs(t); len(vb) != 1 {
		t.Fatalf("variant blobs %q, want the one within the quota", vb)
	}
}

// TestVariant_RaceReplaceReplicas: as TestVariant_RaceReplace, with the
// replace made by another replica sharing the store, blobs and cache,
// whose write this replica's own log never sees: the render that finds
// the image changed under it must not fill the shared cache with the old
// picture.
func TestVariant_RaceReplaceReplicas(t *testing.T) {
	f, cache, _ := variantFixture(t)
	ctx := t.Context()
	other := &Images{Store: f.store, Blobs: f.blobs, Cache: cache, Logger: f.images.Logger}
	t.Cleanup(other.Wait)
	g := &gatedBlobs{BlobStore: f.blobs, held: make(chan struct{}), gate: make(chan struct{})}
	f.images.Blobs = g
	if _, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 800, 600, color.RGBA{220, 20, 20, 255})); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, _, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "320", "", "", ""), "")
		done <- err
	}()
	<-g.held // rendered from red, about to be stored
	if _, err := other.Put(ctx, f.owner, "cat", jpegOf(t, 800, 600, color.RGBA{20, 20, 220, 255})); err != nil {
		t.Fatal(err)
	}
	close(g.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.images.Wait()
	for _, s := range []*Images{f.images, other} {
		_, data, err := s.Variant(ctx, f.owner, "cat", spec(t, "320", "", "", ""), "")
		if err != nil {
			t.Fatal(err)
		}
		if c := colorOf(t, data); c.B < 150 {
			t.Fatalf("after the replace the variant is %v, want the new blue picture", c)
		}
	}
}

// countingBlobs counts the blobs read.
type countingBlobs struct {
	pixpool.BlobStore
	gets atomic.Int64
}

func (c *countingBlobs) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.BlobStore.Get(ctx, key)
}
