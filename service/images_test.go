package service

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	_ "image/jpeg"
	"image/png"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	blobfs "github.com/pixpool/pixpool/blob/fs"
	"github.com/pixpool/pixpool/store/sqlite"
)

func pngOf(t testing.TB, w, h int, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type fixture struct {
	dir    string
	store  *sqlite.Store
	blobs  *blobfs.Store
	images *Images
	owner  int64
}

func open(t testing.TB, dir string) *fixture {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bl, err := blobfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, store: st, blobs: bl, images: &Images{Store: st, Blobs: bl, Logger: slog.New(slog.DiscardHandler)}}
	t.Cleanup(f.images.Wait)
	u, err := st.UserByUsername(context.Background(), "ada")
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		u = &pixpool.User{Username: "ada", FirstName: "Ada", LastName: "L", Email: "ada@example.org",
			Birthday: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), Phone: "+1 555 0100 000"}
		err = st.CreateUser(context.Background(), u, "x")
	}
	if err != nil {
		t.Fatal(err)
	}
	f.owner = u.ID
	return f
}

func (f *fixture) blobKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	f.blobs.List(context.Background(), "", func(b pixpool.BlobInfo) error { keys = append(keys, b.Key); return nil })
	return keys
}

// TestImages_CrashBeforeCommit injects a failure after the bytes are
// written and before the row is committed, as a crash would; after a
// restart there is neither a visible image nor a dangling file.
func TestImages_CrashBeforeCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := open(t, dir)
	old := pngOf(t, 10, 10, color.White)
	if _, err := f.images.Put(ctx, f.owner, "k", old); err != nil {
		t.Fatal(err)
	}
	f.images.Wait()
	before := f.blobKeys(t)

	crash := errors.New("crash")
	f.images.beforeCommit = func() error { return crash }
	if _, err := f.images.Put(ctx, f.owner, "k", pngOf(t, 20, 20, color.Black)); !errors.Is(err, crash) {
		t.Fatalf("Put=%v, want the injected crash", err)
	}
	if _, err := f.images.Put(ctx, f.owner, "new", pngOf(t, 20, 20, color.Black)); !errors.Is(err, crash) {
		t.Fatalf("Put=%v, want the injected crash", err)
	}
	if n := len(f.blobKeys(t)); n <= len(before) {
		t.Fatalf("the crash left %d blobs; the test needs the new bytes on disk", n)
	}

	// Restart: open the same folders and sweep as serve does at start.
	f2 := open(t, dir)
	f.images.Wait()
	if n, err := f2.images.SweepOrphans(ctx, 0); err != nil || n != 2 {
		t.Fatalf("SweepOrphans=%d, %v; want 2 (the two images' bytes)", n, err)
	}
	if got := f2.blobKeys(t); len(got) != len(before) {
		t.Fatalf("blobs after sweep %q, want %q", got, before)
	}
	_, data, err := f2.images.Get(ctx, f2.owner, "k")
	if err != nil || !bytes.Equal(data, old) {
		t.Fatalf("Get(k) after crash: %v; want the old image", err)
	}
	if _, _, err := f2.images.Get(ctx, f2.owner, "new"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("Get(new)=%v, want not found", err)
	}
}

func TestImages_SweepGrace(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	f.images.beforeCommit = func() error { return errors.New("crash") }
	f.images.Put(ctx, f.owner, "k", pngOf(t, 4, 4, color.White))
	if n, err := f.images.SweepOrphans(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("SweepOrphans(1h)=%d, %v; young files must stay (an upload may be in flight)", n, err)
	}
}

// TestImages_SweepEmptyDatabase: a database without any image record next
// to a blob store full of images (a new database on a shared bucket, before
// a backup is restored into it) is left alone by the sweep.
func TestImages_SweepEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := open(t, dir)
	for _, k := range []string{"a", "b"} {
		if _, err := f.images.Put(ctx, f.owner, k, pngOf(t, 4, 4, color.White)); err != nil {
			t.Fatal(err)
		}
	}
	f.images.Wait()
	before := f.blobKeys(t)
	if _, err := f.store.DeleteAllImages(ctx); err != nil { // rows only, as an empty database has
		t.Fatal(err)
	}
	if n, err := f.images.SweepOrphans(ctx, 0); err != nil || n != 0 {
		t.Fatalf("SweepOrphans with no image rows = %d, %v; want nothing removed", n, err)
	}
	if got := f.blobKeys(t); len(got) != len(before) {
		t.Fatalf("blobs %q after the sweep, want %q", got, before)
	}
}

func TestImages_ReplaceRemovesOldBytes(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	for _, c := range []color.Color{color.White, color.Black, color.Gray{128}} {
		if _, err := f.images.Put(ctx, f.owner, "k", pngOf(t, 8, 8, c)); err != nil {
			t.Fatal(err)
		}
	}
	f.images.Wait()
	// Background thumbnails may have been skipped while busy; this makes
	// the current one if so.
	if _, _, err := f.images.Thumbnail(ctx, f.owner, "k"); err != nil {
		t.Fatal(err)
	}
	if got := f.blobKeys(t); len(got) != 2 {
		t.Fatalf("blobs %q, want one image and one thumbnail", got)
	}
	if err := f.images.Delete(ctx, f.owner, "k"); err != nil {
		t.Fatal(err)
	}
	f.images.Wait()
	if got := f.blobKeys(t); len(got) != 0 {
		t.Fatalf("blobs after delete %q", got)
	}
}

// mapCache is an in-process pixpool.Cache for the read-path tests; the
// real pool, over memcached-protocol nodes, has its own tests.
type mapCache struct {
	mu   sync.Mutex
	m    map[string][]byte
	gets atomic.Int64
}

func (c *mapCache) Get(_ context.Context, k string) ([]byte, error) {
	c.gets.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	if !ok {
		return nil, pixpool.ErrCacheMiss
	}
	return v, nil
}

func (c *mapCache) Set(_ context.Context, k string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
	return nil
}

func (c *mapCache) Add(_ context.Context, k string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		c.m[k] = v
	}
	return nil
}

func (c *mapCache) Delete(_ context.Context, k string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
	return nil
}

// countingStore counts metadata lookups.
type countingStore struct {
	pixpool.Store
	lookups atomic.Int64
	gate    chan struct{}
}

func (s *countingStore) Image(ctx context.Context, owner int64, key string) (*pixpool.Image, error) {
	s.lookups.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	return s.Store.Image(ctx, owner, key)
}

func TestImages_ThumbnailOnDemand(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	img, err := f.images.Put(ctx, f.owner, "k", pngOf(t, 1000, 500, color.White))
	if err != nil {
		t.Fatal(err)
	}
	f.images.Wait()
	// Lose the thumbnail, as a crash before it was written would.
	if err := f.blobs.Delete(ctx, img.ThumbKey); err != nil {
		t.Fatal(err)
	}
	_, thumb, err := f.images.Thumbnail(ctx, f.owner, "k")
	if err != nil {
		t.Fatal(err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(thumb))
	if err != nil || format != "jpeg" || cfg.Width != 320 || cfg.Height != 160 {
		t.Fatalf("thumbnail %s %dx%d, %v; want a 320x160 JPEG", format, cfg.Width, cfg.Height, err)
	}
	if rc, err := f.blobs.Get(ctx, img.ThumbKey); err != nil {
		t.Fatalf("thumbnail not kept: %v", err)
	} else {
		rc.Close()
	}
	if _, _, err := f.images.Thumbnail(ctx, f.owner, "nope"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("Thumbnail(missing)=%v", err)
	}
}

func TestImages_ReadThrough(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	cache := &mapCache{m: map[string][]byte{}}
	cs := &countingStore{Store: f.store}
	f.images.Store, f.images.Cache = cs, cache
	img := pngOf(t, 8, 8, color.White)
	if _, err := f.images.Put(ctx, f.owner, "k", img); err != nil {
		t.Fatal(err)
	}
	f.images.Wait()
	cache.Delete(ctx, CacheKey(f.owner, "k")) // start cold
	cs.lookups.Store(0)

	t.Run("SingleflightOnMiss", func(t *testing.T) {
		cs.gate = make(chan struct{})
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, data, err := f.images.Get(ctx, f.owner, "k"); err != nil || !bytes.Equal(data, img) {
					t.Errorf("Get: %v", err)
				}
			})
		}
		for cache.gets.Load() < 20 {
			time.Sleep(time.Millisecond)
		}
		close(cs.gate)
		wg.Wait()
		cs.gate = nil
		if got := cs.lookups.Load(); got != 1 {
			t.Fatalf("store lookups=%d for 20 concurrent misses, want 1", got)
		}
	})
	t.Run("HitSkipsStore", func(t *testing.T) {
		before := cs.lookups.Load()
		got, data, err := f.images.Get(ctx, f.owner, "k")
		if err != nil || !bytes.Equal(data, img) || got.ContentType != "image/png" || got.Width != 8 {
			t.Fatalf("Get=%+v, %v", got, err)
		}
		if cs.lookups.Load() != before {
			t.Fatal("a cache hit went to the store")
		}
	})
	t.Run("WriteThrough", func(t *testing.T) {
		newer := pngOf(t, 9, 9, color.Black)
		if _, err := f.images.Put(ctx, f.owner, "k", newer); err != nil {
			t.Fatal(err)
		}
		// A reader that loaded the old row before the upload committed
		// fills with Add, which must not overwrite the new value.
		f.images.fill(ctx, &pixpool.Image{OwnerID: f.owner, Key: "k"}, img, false)
		if _, data, _ := f.images.Get(ctx, f.owner, "k"); !bytes.Equal(data, newer) {
			t.Fatal("read after upload returned old bytes")
		}
	})
	t.Run("DeleteInvalidates", func(t *testing.T) {
		if err := f.images.Delete(ctx, f.owner, "k"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.images.Get(ctx, f.owner, "k"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("Get after delete=%v", err)
		}
	})
}

func TestCacheKey(t *testing.T) {
	long := string(bytes.Repeat([]byte("é"), 125))
	for _, key := range []string{"cat", "with space", "a\u00a0b", long, "猫", "/"} {
		ck := CacheKey(7, key)
		if len(ck) > 250 || bytes.ContainsAny([]byte(ck), " \t\r\n\x00") {
			t.Errorf("CacheKey(%q)=%q breaks memcached's rules", key, ck)
		}
	}
	if CacheKey(1, "cat") == CacheKey(2, "cat") || CacheKey(1, "cat") == CacheKey(1, "Cat") {
		t.Fatal("cache keys collide across owners or case")
	}
}

func TestEntryRoundTrip(t *testing.T) {
	in := &pixpool.Image{ID: 3, ContentType: "image/gif", Width: 4, Height: 5, Checksum: "ab", CreatedAt: time.UnixMilli(1700000000123).UTC()}
	out, data, err := decodeEntry(encodeEntry(in, []byte("bytes")))
	if err != nil || string(data) != "bytes" || out.ContentType != in.ContentType || !out.CreatedAt.Equal(in.CreatedAt) || out.Width != 4 {
		t.Fatalf("round trip: %+v %q %v", out, data, err)
	}
	// Decoded again (remembered now), and a header differing in one field
	// decodes to its own values.
	for i := 0; i < 2; i++ {
		other := *in
		other.Checksum = "cd"
		o, _, err := decodeEntry(encodeEntry(&other, []byte("bytes")))
		if err != nil || o.Checksum != "cd" {
			t.Fatalf("other header: %+v %v", o, err)
		}
		again, _, err := decodeEntry(encodeEntry(in, []byte("bytes")))
		if err != nil || *again != *out {
			t.Fatalf("decoded again: %+v, first %+v, %v", again, out, err)
		}
	}
	// A header that is not JSON is refused, remembered or not.
	bad := encodeEntry(in, []byte("bytes"))
	bad[len(entryMagic)+4] = '['
	for i := 0; i < 2; i++ {
		if _, _, err := decodeEntry(bad); err == nil {
			t.Fatal("bad header accepted")
		}
	}
	for _, bad := range [][]byte{nil, []byte("PXC1"), []byte("PXC1\xff\xff\xff\xffx"), []byte("nope")} {
		if _, _, err := decodeEntry(bad); err == nil {
			t.Errorf("decodeEntry(%q) accepted", bad)
		}
	}
}

// BenchmarkDecodeEntry: decoding a hot image's cache entry, as every cache
// hit does.
func BenchmarkDecodeEntry(b *testing.B) {
	in := &pixpool.Image{ID: 3, ContentType: "image/jpeg", Width: 316, Height: 316,
		Checksum: "ef81f25885bda9d83f553ada2de0cb62cae97bbb5a2504dc30bb3d08aa59b803", CreatedAt: time.UnixMilli(1700000000123).UTC()}
	v := encodeEntry(in, make([]byte, 100<<10))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := decodeEntry(v); err != nil {
			b.Fatal(err)
		}
	}
}

// gatedStore pauses the first read of an image row after it is armed,
// after the row is read, so a test can write between a reader's row and
// its bytes.
type gatedStore struct {
	pixpool.Store
	armed atomic.Bool
	read  chan struct{} // closed when the paused read has its row
	gate  chan struct{} // the paused read goes on when this is closed
}

func (s *gatedStore) Image(ctx context.Context, owner int64, key string) (*pixpool.Image, error) {
	img, err := s.Store.Image(ctx, owner, key)
	if s.armed.CompareAndSwap(true, false) {
		close(s.read)
		<-s.gate
	}
	return img, err
}

// TestImages_ReadRacingReplace: a read that got the old row before a
// replace neither fails (its bytes are gone) nor fills the cache with old
// bytes, even when the writer's value was evicted at once.
func TestImages_ReadRacingReplace(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	cache := &mapCache{m: map[string][]byte{}}
	gs := &gatedStore{Store: f.store, read: make(chan struct{}), gate: make(chan struct{})}
	f.images.Store, f.images.Cache = gs, cache
	oldImg, newImg := pngOf(t, 8, 8, color.White), pngOf(t, 9, 9, color.Black)
	if _, err := f.images.Put(ctx, f.owner, "k", oldImg); err != nil {
		t.Fatal(err)
	}
	f.images.Wait()
	cache.Delete(ctx, CacheKey(f.owner, "k"))

	type result struct {
		data []byte
		err  error
	}
	done := make(chan result)
	gs.armed.Store(true)
	go func() {
		_, data, err := f.images.Get(ctx, f.owner, "k")
		done <- result{data, err}
	}()
	<-gs.read // the reader holds the old row
	if _, err := f.images.Put(ctx, f.owner, "k", newImg); err != nil {
		t.Fatal(err)
	}
	cache.Delete(ctx, CacheKey(f.owner, "k")) // evicted at once
	close(gs.gate)
	r := <-done
	if r.err != nil {
		t.Fatalf("read racing a replace failed: %v", r.err)
	}
	if !bytes.Equal(r.data, newImg) {
		t.Fatal("read racing a replace returned bytes other than the new ones")
	}
	if _, ok := cache.m[CacheKey(f.owner, "k")]; ok {
		t.Fatal("a read that started before a write filled the cache")
	}
}

// TestImages_BlobKeysRestorable: the blob keys Put gives an image are the
// only ones a restore accepts (pixpool.ImageBlobID), so every genuine
// backup restores.
func TestImages_BlobKeysRestorable(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	img, err := f.images.Put(ctx, f.owner, "k", pngOf(t, 8, 8, color.White))
	if err != nil {
		t.Fatal(err)
	}
	f.images.Wait()
	if _, err := pixpool.ImageBlobID(img); err != nil {
		t.Fatalf("ImageBlobID(%+v)=%v", img, err)
	}
}
