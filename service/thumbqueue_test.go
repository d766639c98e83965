package service

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

func jpegOf(t testing.TB, w, h int, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// flakyBlobs fails the next fails puts of thumbnails.
type flakyBlobs struct {
	pixpool.BlobStore
	fails atomic.Int32
}

func (b *flakyBlobs) Put(ctx context.Context, key string, r io.Reader) error {
	if strings.HasPrefix(key, "thumb/") && b.fails.Add(-1) >= 0 {
		return errors.New("flaky disk")
	}
	return b.BlobStore.Put(ctx, key, r)
}

// queued returns a fixture whose uploads come while other requests are
// being served, so that their thumbnails wait; end those requests to let
// the thumbnails be made.
func queued(t *testing.T) (f *fixture, end func()) {
	f = open(t, t.TempDir())
	serving := &Activity{Quiet: time.Millisecond, MaxWait: time.Hour}
	f.images.Serving = serving
	f.images.thumbRetry = time.Millisecond
	// Two: the upload counts itself when it comes through HTTP.
	end1, end2 := serving.Begin(), serving.Begin()
	return f, func() { end1(); end2() }
}

// An upload while no other request is being served gets its thumbnail at
// once, from the image decoded to check it, as without Serving.
func TestImages_ThumbnailAtOnceWhenIdle(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	serving := &Activity{Quiet: time.Millisecond, MaxWait: time.Hour}
	f.images.Serving = serving
	end := serving.Begin() // the upload's own request
	img, err := f.images.Put(ctx, f.owner, "k", jpegOf(t, 800, 600, color.White))
	if err != nil {
		t.Fatal(err)
	}
	f.images.Wait() // the thumbnail does not wait for serving: end comes later
	if !f.hasBlob(t, img.ThumbKey) {
		t.Fatal("no thumbnail")
	}
	end()
}

func (f *fixture) hasBlob(t *testing.T, key string) bool {
	t.Helper()
	rc, err := f.blobs.Get(context.Background(), key)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	return true
}

func (f *fixture) thumbKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	err := f.blobs.List(context.Background(), "thumb/", func(b pixpool.BlobInfo) error {
		keys = append(keys, b.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// With Serving set, uploads' thumbnails wait until serving is idle; the
// gallery's Thumbnail makes one on demand meanwhile, and then every one
// is made.
func TestImages_QueuedThumbnails(t *testing.T) {
	ctx := context.Background()
	f, end := queued(t)
	var imgs []*pixpool.Image
	for i, data := range [][]byte{jpegOf(t, 1000, 500, color.White), pngOf(t, 640, 640, color.Black), jpegOf(t, 50, 40, color.White)} {
		img, err := f.images.Put(ctx, f.owner, string(rune('a'+i)), data)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	for _, img := range imgs {
		if f.hasBlob(t, img.ThumbKey) {
			t.Fatalf("thumbnail %s made while a request was being served", img.ThumbKey)
		}
	}
	_, thumb, err := f.images.Thumbnail(ctx, f.owner, "a")
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb)); err != nil || cfg.Width != 320 || cfg.Height != 160 {
		t.Fatalf("thumbnail on demand: %+v, %v; want 320x160", cfg, err)
	}

	end()
	f.images.Wait()
	for _, img := range imgs {
		if !f.hasBlob(t, img.ThumbKey) {
			t.Errorf("thumbnail %s not made once serving was idle", img.ThumbKey)
		}
	}
	if got, want := len(f.thumbKeys(t)), 3; got != want {
		t.Fatalf("%d thumbnails, want %d", got, want)
	}
}

// A thumbnail that fails is tried again, up to thumbTries times; one that
// fails every time is left to Thumbnail.
func TestImages_QueuedThumbnailRetry(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		fails int32
		made  bool
	}{{"Recovers", thumbTries - 1, true}, {"GivesUp", thumbTries, false}} {
		t.Run(tt.name, func(t *testing.T) {
			f, end := queued(t)
			flaky := &flakyBlobs{BlobStore: f.blobs}
			flaky.fails.Store(tt.fails)
			f.images.Blobs = flaky
			img, err := f.images.Put(ctx, f.owner, "k", jpegOf(t, 800, 600, color.White))
			if err != nil {
				t.Fatal(err)
			}
			end()
			f.images.Wait()
			if got := f.hasBlob(t, img.ThumbKey); got != tt.made {
				t.Fatalf("thumbnail made: %v, want %v", got, tt.made)
			}
			if _, _, err := f.images.Thumbnail(ctx, f.owner, "k"); err != nil {
				t.Fatalf("Thumbnail on demand: %v", err)
			}
			if !f.hasBlob(t, img.ThumbKey) {
				t.Fatal("thumbnail not kept")
			}
		})
	}
}

// An image replaced or deleted before its queued thumbnail is made leaves
// no thumbnail behind; the replacement gets its own.
func TestImages_QueuedThumbnailReplaced(t *testing.T) {
	ctx := context.Background()
	f, end := queued(t)
	if _, err := f.images.Put(ctx, f.owner, "k", jpegOf(t, 800, 600, color.White)); err != nil {
		t.Fatal(err)
	}
	now, err := f.images.Put(ctx, f.owner, "k", jpegOf(t, 600, 800, color.Black))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.images.Put(ctx, f.owner, "gone", jpegOf(t, 800, 600, color.White)); err != nil {
		t.Fatal(err)
	}
	if err := f.images.Delete(ctx, f.owner, "gone"); err != nil {
		t.Fatal(err)
	}
	end()
	f.images.Wait()
	if got, want := f.thumbKeys(t), []string{now.ThumbKey}; !slices.Equal(got, want) {
		t.Fatalf("thumbnails %v, want %v", got, want)
	}
}

// Shutdown drops the queue rather than working through it; what it
// dropped is made on demand.
func TestImages_ShutdownDropsQueuedThumbnails(t *testing.T) {
	ctx := context.Background()
	f, end := queued(t)
	const n = 5
	for i := range n {
		if _, err := f.images.Put(ctx, f.owner, string(rune('a'+i)), jpegOf(t, 800, 600, color.White)); err != nil {
			t.Fatal(err)
		}
	}
	end()
	f.images.Shutdown()
	// The worker may have taken the first before the queue was dropped.
	if got := len(f.thumbKeys(t)); got > 1 {
		t.Fatalf("%d of %d queued thumbnails made after Shutdown, want at most 1", got, n)
	}
	if _, _, err := f.images.Thumbnail(ctx, f.owner, "e"); err != nil {
		t.Fatal(err)
	}
}

// Many uploads at once, each checked and stored, each readable at once
// and each getting its thumbnail.
func TestImages_ConcurrentPutsQueued(t *testing.T) {
	ctx := context.Background()
	f, end := queued(t)
	const n = 24
	errs := make(chan error, n)
	for i := range n {
		// Each different: identical uploads would share one thumbnail.
		data := jpegOf(t, 400, 300, color.Gray{uint8(i * 10)})
		go func() {
			key := "c" + string(rune('A'+i))
			if _, err := f.images.Put(ctx, f.owner, key, data); err != nil {
				errs <- err
				return
			}
			_, got, err := f.images.Get(ctx, f.owner, key)
			if err == nil && !bytes.Equal(got, data) {
				err = errors.New("read back other bytes")
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	end()
	f.images.Wait()
	if got := len(f.thumbKeys(t)); got != n {
		t.Fatalf("%d thumbnails, want %d", got, n)
	}
}

// An upload that comes while others are being served is only checked, not
// decoded (its thumbnail is queued anyway): it is refused exactly as an
// upload to an idle server, with the same message, and a good one stored
// with the same size.
func TestImages_CheckedUnderLoadAsWhenIdle(t *testing.T) {
	ctx := context.Background()
	good := jpegOf(t, 300, 200, color.RGBA{200, 10, 10, 255})
	bad := map[string][]byte{
		"truncated":    good[:len(good)/2],
		"no EOI":       good[:len(good)-2],
		"bit-flipped":  flip(good, len(good)*2/3),
		"not an image": []byte("hello"),
	}
	busy, end := queued(t)
	defer end()
	idle := open(t, t.TempDir())
	for name, data := range bad {
		_, berr := busy.images.Put(ctx, busy.owner, "k", data)
		_, ierr := idle.images.Put(ctx, idle.owner, "k", data)
		if (berr == nil) != (ierr == nil) || berr != nil && berr.Error() != ierr.Error() {
			t.Errorf("%s: under load %v; idle %v", name, berr, ierr)
		}
	}
	img, err := busy.images.Put(ctx, busy.owner, "good", good)
	if err != nil || img.Width != 300 || img.Height != 200 || img.ContentType != "image/jpeg" {
		t.Fatalf("Put under load = %+v, %v", img, err)
	}
}

func flip(b []byte, at int) []byte {
	b = bytes.Clone(b)
	b[at] ^= 0x10
	return b
}
