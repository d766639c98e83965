package service

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// imageBlobs lists the blob store's image files (img/ and thumb/).
func (f *fixture) imageBlobs(t *testing.T) []string {
	t.Helper()
	f.images.Wait()
	var keys []string
	for _, k := range f.blobKeys(t) {
		if strings.HasPrefix(k, "img/") || strings.HasPrefix(k, "thumb/") {
			keys = append(keys, k)
		}
	}
	return keys
}

// wantReadable fails t unless key's image reads back as data.
func (f *fixture) wantReadable(t *testing.T, key string, data []byte) {
	t.Helper()
	_, got, err := f.images.Get(context.Background(), f.owner, key)
	if err != nil {
		t.Fatalf("Get(%q)=%v", key, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("Get(%q): %d bytes, want the %d stored", key, len(got), len(data))
	}
}

func TestImages_Trash(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	now := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	f.images.Now = func() time.Time { return now }
	var stored []string
	f.images.Stored = func(_ context.Context, img *pixpool.Image) { stored = append(stored, img.Key) }
	data := pngOf(t, 16, 16, color.White)
	if _, err := f.images.Put(ctx, f.owner, "cat", data); err != nil {
		t.Fatal(err)
	}
	files := f.imageBlobs(t)

	tr, err := f.images.Trash(ctx, f.owner, "cat")
	if err != nil {
		t.Fatalf("Trash()=%v", err)
	}
	if got, want := tr.PurgeAt, now.Add(30*24*time.Hour); !got.Equal(want) {
		t.Fatalf("PurgeAt=%v, want %v (the default 30 days)", got, want)
	}
	_, _, err = f.images.Get(ctx, f.owner, "cat")
	if pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("Get(trashed)=%v, want ENOTFOUND", err)
	}
	if got := f.imageBlobs(t); !slices.Equal(got, files) {
		t.Fatalf("files after Trash=%q, want them kept: %q", got, files)
	}
	if _, data, err := f.images.TrashThumbnail(ctx, f.owner, tr.ID); err != nil || len(data) == 0 {
		t.Fatalf("TrashThumbnail()=%d bytes, %v", len(data), err)
	}
	// The sweeper keeps the trash's files.
	if n, err := f.images.SweepOrphans(ctx, 0); err != nil || n != 0 {
		t.Fatalf("SweepOrphans()=%d, %v, want nothing removed", n, err)
	}

	// A new image under the key: a restore must ask for another key.
	other := pngOf(t, 16, 16, color.Black)
	if _, err := f.images.Put(ctx, f.owner, "cat", other); err != nil {
		t.Fatal(err)
	}
	_, err = f.images.Restore(ctx, f.owner, tr.ID, "")
	if pixpool.ErrorCode(err) != pixpool.ECONFLICT || !strings.Contains(pixpool.ErrorMessage(err), "another key") {
		t.Fatalf("Restore(key taken)=%v, want ECONFLICT offering another key", err)
	}
	stored = nil
	img, err := f.images.Restore(ctx, f.owner, tr.ID, "cat (old)")
	if err != nil {
		t.Fatalf("Restore(new key)=%v", err)
	}
	if img.Key != "cat (old)" || !slices.Equal(stored, []string{"cat (old)"}) {
		t.Fatalf("restored %q, Stored hook saw %q; want cat (old), analysed again", img.Key, stored)
	}
	f.wantReadable(t, "cat (old)", data)
	f.wantReadable(t, "cat", other)

	// Delete forever: the files go.
	tr, err = f.images.Trash(ctx, f.owner, "cat (old)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.images.Purge(ctx, f.owner, tr.ID); err != nil {
		t.Fatalf("Purge()=%v", err)
	}
	if got := len(f.imageBlobs(t)); got != 2 {
		t.Fatalf("%d files after Purge, want the other image's 2", got)
	}
	if _, err := f.images.Trash(ctx, f.owner, "cat"); err != nil {
		t.Fatal(err)
	}
	if n, err := f.images.EmptyTrash(ctx, f.owner); err != nil || n != 1 {
		t.Fatalf("EmptyTrash()=%d, %v, want 1", n, err)
	}
	if got := f.imageBlobs(t); len(got) != 0 {
		t.Fatalf("files after EmptyTrash=%q, want none", got)
	}
}

func TestImages_TrashPolicy(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	now := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	f.images.Now = func() time.Time { return now }
	f.images.Policies = &Policies{Store: f.store}
	if err := f.images.Policies.Set(ctx, pixpool.Policy{TrashDays: 2}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := f.images.Put(ctx, f.owner, k, pngOf(t, 8, 8, color.Gray{uint8(len(k) * 40)})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.images.Put(ctx, f.owner, "b", pngOf(t, 8, 8, color.Black)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.images.Trash(ctx, f.owner, "a"); err != nil {
		t.Fatal(err)
	}
	// Not yet due, then due.
	if n, err := f.images.PurgeExpired(ctx); err != nil || n != 0 {
		t.Fatalf("PurgeExpired() before its time=%d, %v", n, err)
	}
	now = now.Add(48 * time.Hour)
	if n, err := f.images.PurgeExpired(ctx); err != nil || n != 1 {
		t.Fatalf("PurgeExpired()=%d, %v, want 1", n, err)
	}
	if got := len(f.imageBlobs(t)); got > 2 {
		t.Fatalf("%d files after the purge, want b's only", got)
	}

	// TrashDays 0: deletes are final.
	if err := f.images.Policies.Set(ctx, pixpool.Policy{TrashDays: 0}); err != nil {
		t.Fatal(err)
	}
	tr, err := f.images.Trash(ctx, f.owner, "b")
	if err != nil || tr != nil {
		t.Fatalf("Trash() with no trash=%v, %v; want nil, deleted", tr, err)
	}
	if got := f.imageBlobs(t); len(got) != 0 {
		t.Fatalf("files=%q, want none", got)
	}
	if n, _ := f.store.CountTrash(ctx, f.owner); n != 0 {
		t.Fatalf("CountTrash()=%d, want 0", n)
	}
}

func TestImages_Dedup(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	data := pngOf(t, 32, 32, color.RGBA{200, 10, 10, 255})
	for _, k := range []string{"a", "b", "c"} {
		if _, err := f.images.Put(ctx, f.owner, k, data); err != nil {
			t.Fatal(err)
		}
	}
	// One copy of the bytes and (once made) one thumbnail.
	for _, k := range []string{"a", "b", "c"} {
		if _, _, err := f.images.Thumbnail(ctx, f.owner, k); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.imageBlobs(t); len(got) != 2 {
		t.Fatalf("files for three identical images=%q, want one image and one thumbnail", got)
	}
	// The same bytes under the same key again: nothing goes.
	if _, err := f.images.Put(ctx, f.owner, "a", data); err != nil {
		t.Fatal(err)
	}
	if err := f.images.Delete(ctx, f.owner, "a"); err != nil {
		t.Fatal(err)
	}
	f.wantReadable(t, "b", data)
	tr, err := f.images.Trash(ctx, f.owner, "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.images.Purge(ctx, f.owner, tr.ID); err != nil {
		t.Fatal(err)
	}
	f.wantReadable(t, "c", data)
	if _, _, err := f.images.Thumbnail(ctx, f.owner, "c"); err != nil {
		t.Fatal(err)
	}
	if got := len(f.imageBlobs(t)); got != 2 {
		t.Fatalf("%d files while c lives, want 2", got)
	}
	if err := f.images.Delete(ctx, f.owner, "c"); err != nil {
		t.Fatal(err)
	}
	if got := f.imageBlobs(t); len(got) != 0 {
		t.Fatalf("files after the last copy went=%q, want none", got)
	}
}

// TestImages_DedupRace uploads a copy of an image while the image is
// deleted, many times: the copy must always read back.
func TestImages_DedupRace(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	for round := range 30 {
		data := pngOf(t, 8, 8, color.RGBA{uint8(round), 1, 2, 255})
		orig, dup := fmt.Sprintf("orig%d", round), fmt.Sprintf("dup%d", round)
		if _, err := f.images.Put(ctx, f.owner, orig, data); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var putErr, delErr error
		wg.Go(func() { _, putErr = f.images.Put(ctx, f.owner, dup, data) })
		wg.Go(func() {
			if round%2 == 0 {
				delErr = f.images.Delete(ctx, f.owner, orig)
				return
			}
			tr, err := f.images.Trash(ctx, f.owner, orig)
			if err == nil {
				_, err = f.images.Purge(ctx, f.owner, tr.ID)
			}
			delErr = err
		})
		wg.Wait()
		if putErr != nil || delErr != nil {
			t.Fatalf("round %d: Put=%v, delete=%v", round, putErr, delErr)
		}
		f.images.Wait()
		// Read from the blob store, not a cache.
		img, err := f.images.Info(ctx, f.owner, dup)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.images.readBlob(ctx, img.BlobKey)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round %d: the copy's bytes %q: %v (%d bytes)", round, img.BlobKey, err, len(got))
		}
	}
}

// TestImages_TrashForgetsVariants: a variant in the cache is not served
// once its image is in the trash, and the restored image's variant is
// there again.
func TestImages_TrashForgetsVariants(t *testing.T) {
	f, _, _ := variantFixture(t)
	ctx := t.Context()
	if _, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 800, 600, color.White)); err != nil {
		t.Fatal(err)
	}
	for _, sp := range []pixpool.VariantSpec{spec(t, "320", "", "", ""), spec(t, "320", "", "", "png")} {
		if _, _, err := f.images.Variant(ctx, f.owner, "cat", sp, ""); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := f.images.Trash(ctx, f.owner, "cat")
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range []pixpool.VariantSpec{spec(t, "320", "", "", ""), spec(t, "320", "", "", "png")} {
		if _, _, err := f.images.Variant(ctx, f.owner, "cat", sp, ""); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("Variant(%s) of a trashed image=%v, want ENOTFOUND", sp, err)
		}
	}
	if _, err := f.images.Restore(ctx, f.owner, tr.ID, ""); err != nil {
		t.Fatal(err)
	}
	if img, _, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "320", "", "", ""), ""); err != nil || img.Width != 320 {
		t.Fatalf("Variant() after restore=%v, %v", img, err)
	}
}

// raceDeleteAll is a store that runs between, when DeleteAll has deleted
// the images and not yet the trash: another request's moment.
type raceDeleteAll struct {
	pixpool.Store
	between func()
}

func (s *raceDeleteAll) DeleteAllTrash(ctx context.Context) (int, error) {
	s.between()
	return s.Store.DeleteAllTrash(ctx)
}

// TestImages_DeleteAllRacingRestore: an image restored (or uploaded as a
// copy of a trash entry) while DeleteAll runs survives it with its bytes;
// DeleteAll removed every file it had listed first, the restored row's
// among them.
func TestImages_DeleteAllRacingRestore(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	data := pngOf(t, 16, 16, color.White)
	if _, err := f.images.Put(ctx, f.owner, "cat", data); err != nil {
		t.Fatal(err)
	}
	tr, err := f.images.Trash(ctx, f.owner, "cat")
	if err != nil {
		t.Fatal(err)
	}
	f.images.Wait() // the thumbnail made
	f.images.Store = &raceDeleteAll{Store: f.store, between: func() {
		if _, err := f.images.Restore(ctx, f.owner, tr.ID, ""); err != nil {
			t.Errorf("Restore()=%v", err)
		}
	}}
	if _, _, err := f.images.DeleteAll(ctx); err != nil {
		t.Fatal(err)
	}
	f.wantReadable(t, "cat", data)
}

// TestImages_PurgeExpiredKeepsUp: one round purges every entry due, batch
// after batch, so an install deleting more than a batch an hour does not
// see its trash (and the disk and quotas it takes) grow without end.
func TestImages_PurgeExpiredKeepsUp(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	now := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	f.images.Now = func() time.Time { return now }
	f.images.purgeBatch = 2
	for i := range 5 {
		k := fmt.Sprint("k", i)
		if _, err := f.images.Put(ctx, f.owner, k, pngOf(t, 8, 8, color.Gray{uint8(i * 40)})); err != nil {
			t.Fatal(err)
		}
		if _, err := f.images.Trash(ctx, f.owner, k); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(31 * 24 * time.Hour)
	if n, err := f.images.PurgeExpired(ctx); err != nil || n != 5 {
		t.Fatalf("PurgeExpired()=%d, %v, want all 5 due", n, err)
	}
	if n, _ := f.store.CountTrash(ctx, f.owner); n != 0 {
		t.Fatalf("CountTrash()=%d after the round, want 0", n)
	}
}
