package service

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/gif"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging"
)

// renders counts the "variant rendered" log lines.
type renders struct {
	slog.Handler
	n atomic.Int64
}

func (h *renders) Enabled(context.Context, slog.Level) bool { return true }

func (h *renders) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "variant rendered" {
		h.n.Add(1)
	}
	return nil
}

// variantFixture is a service with a cache and a counter of renders.
func variantFixture(t *testing.T) (*fixture, *mapCache, *renders) {
	f := open(t, t.TempDir())
	cache := &mapCache{m: map[string][]byte{}}
	r := &renders{Handler: slog.DiscardHandler}
	f.images.Cache, f.images.Logger = cache, slog.New(r)
	return f, cache, r
}

func (f *fixture) variantBlobs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, k := range f.blobKeys(t) {
		if strings.HasPrefix(k, "var/") {
			out = append(out, k)
		}
	}
	return out
}

// colorOf decodes a variant and returns its centre pixel.
func colorOf(t *testing.T, data []byte) color.RGBA {
	t.Helper()
	_, m, err := imaging.Inspect(data, 0)
	if err != nil {
		t.Fatalf("variant does not decode: %v", err)
	}
	b := m.Bounds()
	r, g, bl, a := m.At(b.Dx()/2, b.Dy()/2).RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}
}

func spec(t *testing.T, w, h, fit, format string) pixpool.VariantSpec {
	t.Helper()
	s, err := pixpool.ParseVariantSpec(w, h, fit, format)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVariant_RenderedOnce(t *testing.T) {
	f, cache, r := variantFixture(t)
	ctx := t.Context()
	if _, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 1200, 800, color.RGBA{200, 30, 30, 255})); err != nil {
		t.Fatal(err)
	}
	img, data, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "640", "", "", ""), "")
	if err != nil {
		t.Fatalf("Variant()=%v", err)
	}
	if img.Width != 640 || img.Height != 427 || img.ContentType != "image/jpeg" || img.Size != int64(len(data)) {
		t.Fatalf("Variant()=%dx%d %s %d bytes, want 640x427 image/jpeg", img.Width, img.Height, img.ContentType, img.Size)
	}
	if info, err := imaging.Dimensions(data); err != nil || info.Width != 640 {
		t.Fatalf("variant bytes: %+v, %v", info, err)
	}
	vb := f.variantBlobs(t)
	if len(vb) != 1 || !strings.HasSuffix(vb[0], "/640x0-inside.jpeg") {
		t.Fatalf("variant blobs %q, want one 640x0-inside.jpeg", vb)
	}
	orig, _ := f.images.Info(ctx, f.owner, "cat")
	if vs, _ := f.store.VariantsOf(ctx, orig.BlobKey); len(vs) != 1 || vs[0].Size != int64(len(data)) || vs[0].OwnerID != f.owner {
		t.Fatalf("variant records %+v, want one of %d bytes", vs, len(data))
	}

	// From the cache: the blob is not read.
	marker := jpegOf(t, 10, 10, color.White)
	if err := f.blobs.Put(ctx, vb[0], bytes.NewReader(marker)); err != nil {
		t.Fatal(err)
	}
	if _, again, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "640", "", "", ""), ""); err != nil || !bytes.Equal(again, data) {
		t.Fatalf("second Variant()=%d bytes, %v; want the cached %d", len(again), err, len(data))
	}
	// Not in the cache: from the blob store, not rendered again.
	cache.mu.Lock()
	clear(cache.m)
	cache.mu.Unlock()
	if _, again, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "640", "", "", ""), ""); err != nil || !bytes.Equal(again, marker) {
		t.Fatalf("Variant() after the cache lost it=%d bytes, %v; want the stored blob's", len(again), err)
	}
	if got := r.n.Load(); got != 1 {
		t.Fatalf("rendered %d times, want 1", got)
	}

	// Its blob lost: rendered again.
	if err := f.blobs.Delete(ctx, vb[0]); err != nil {
		t.Fatal(err)
	}
	cache.mu.Lock()
	clear(cache.m)
	cache.mu.Unlock()
	if _, again, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "640", "", "", ""), ""); err != nil || colorOf(t, again).R < 150 {
		t.Fatalf("Variant() after its blob was lost: %v", err)
	}
}

func TestVariant_Concurrent(t *testing.T) {
	f, _, r := variantFixture(t)
	ctx := t.Context()
	if _, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 1600, 1200, color.RGBA{30, 200, 30, 255})); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([][]byte, 8)
	for i := range results {
		wg.Go(func() {
			_, data, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "320", "320", "cover", "webp"), "")
			if err != nil {
				t.Error(err)
			}
			results[i] = data
		})
	}
	wg.Wait()
	for _, d := range results[1:] {
		if !bytes.Equal(d, results[0]) {
			t.Fatal("concurrent requests got different bytes")
		}
	}
	if got := r.n.Load(); got != 1 {
		t.Fatalf("8 concurrent requests rendered %d times, want 1", got)
	}
	info, err := imaging.Dimensions(results[0])
	if err != nil || info.Format != "webp" || info.Width != 320 || info.Height != 320 {
		t.Fatalf("variant %+v, %v; want a 320x320 webp", info, err)
	}
}

// TestVariant_Replace: after a replace, the old picture is never served,
// and the old variants' records, blobs and cache entries are gone.
func TestVariant_Replace(t *testing.T) {
	f, cache, _ := variantFixture(t)
	ctx := t.Context()
	red, blue := color.RGBA{220, 20, 20, 255}, color.RGBA{20, 20, 220, 255}
	if _, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 800, 600, red)); err != nil {
		t.Fatal(err)
	}
	specs := []pixpool.VariantSpec{spec(t, "320", "", "", ""), spec(t, "320", "", "", "png"), spec(t, "160", "160", "cover", "")}
	for _, s := range specs {
		if _, data, err := f.images.Variant(ctx, f.owner, "cat", s, ""); err != nil || colorOf(t, data).R < 150 {
			t.Fatalf("Variant(%s)=%v", s, err)
		}
	}
	old := f.variantBlobs(t)
	if len(old) != 3 {
		t.Fatalf("variant blobs %q, want 3", old)
	}
	if _, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 800, 600, blue)); err != nil {
		t.Fatal(err)
	}
	f.images.Wait()
	if got := f.variantBlobs(t); len(got) != 0 {
		t.Fatalf("variant blobs after replace %q, want none", got)
	}
	cache.mu.Lock()
	for k := range cache.m {
		if strings.Contains(k, "~") {
			t.Errorf("cache still has variant %q after replace", k)
		}
	}
	cache.mu.Unlock()
	for _, s := range specs {
		_, data, err := f.images.Variant(ctx, f.owner, "cat", s, "")
		if err != nil {
			t.Fatal(err)
		}
		if c := colorOf(t, data); c.B < 150 || c.R > 100 {
			t.Fatalf("Variant(%s) after replace is %v, want the new blue picture", s, c)
		}
	}
}

func TestVariant_Delete(t *testing.T) {
	f, cache, _ := variantFixture(t)
	ctx := t.Context()
	img, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 800, 600, color.White))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "320", "", "", ""), ""); err != nil {
		t.Fatal(err)
	}
	if err := f.images.Delete(ctx, f.owner, "cat"); err != nil {
		t.Fatal(err)
	}
	f.images.Wait()
	if got := f.variantBlobs(t); len(got) != 0 {
		t.Fatalf("variant blobs after delete %q, want none", got)
	}
	if vs, _ := f.store.VariantsOf(ctx, img.BlobKey); len(vs) != 0 {
		t.Fatalf("variant records after delete: %d", len(vs))
	}
	if len(cache.m) != 0 {
		t.Fatalf("cache after delete holds %d entries", len(cache.m))
	}
	_, _, err = f.images.Variant(ctx, f.owner, "cat", spec(t, "320", "", "", ""), "")
	if pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("Variant() of a deleted image=%v, want ENOTFOUND", err)
	}
}

func TestVariant_Allowlist(t *testing.T) {
	f, _, _ := variantFixture(t)
	ctx := t.Context()
	if _, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 800, 600, color.White)); err != nil {
		t.Fatal(err)
	}
	odd := spec(t, "500", "", "", "")
	_, _, err := f.images.Variant(ctx, f.owner, "cat", odd, "")
	if pixpool.ErrorCode(err) != pixpool.EINVALID || !strings.Contains(pixpool.ErrorMessage(err), "160, 320, 640") {
		t.Fatalf("unsigned w=500: %v, want EINVALID listing the sizes", err)
	}
	sig, err := f.images.SignVariant(ctx, f.owner, "cat", odd)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := f.images.Variant(ctx, f.owner, "cat", odd, sig)
	if err != nil || img.Width != 500 {
		t.Fatalf("signed w=500: %v, %v", img, err)
	}
	for name, bad := range map[string]func() error{
		"WrongSig": func() error { _, _, err := f.images.Variant(ctx, f.owner, "cat", odd, sig[1:]+"A"); return err },
		"OtherSpec": func() error {
			_, _, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "501", "", "", ""), sig)
			return err
		},
		"OtherKey": func() error { _, _, err := f.images.Variant(ctx, f.owner, "dog", odd, sig); return err },
		"OtherOwner": func() error {
			_, _, err := f.images.Variant(ctx, f.owner+1, "cat", odd, sig)
			return err
		},
	} {
		if err := bad(); pixpool.ErrorCode(err) != pixpool.EFORBIDDEN {
			t.Errorf("%s: %v, want EFORBIDDEN", name, err)
		}
	}
	// The key is kept in the store, shared by replicas.
	other := &Images{Store: f.store, Blobs: f.blobs}
	sig2, err := other.SignVariant(ctx, f.owner, "cat", odd)
	if err != nil || sig2 != sig {
		t.Fatalf("another replica signs %q, %v; want %q", sig2, err, sig)
	}
	// A configured allowlist replaces the default.
	f.images.VariantSizes = []pixpool.VariantSize{{Width: 500}}
	if _, _, err := f.images.Variant(ctx, f.owner, "cat", odd, ""); err != nil {
		t.Fatalf("w=500 allowlisted: %v", err)
	}
}

// TestVariant_Original: a spec that changes nothing serves the original,
// keeping no copy of it.
func TestVariant_Original(t *testing.T) {
	f, _, r := variantFixture(t)
	ctx := t.Context()
	orig, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 1000, 700, color.White))
	if err != nil {
		t.Fatal(err)
	}
	img, data, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "2048", "", "", ""), "")
	if err != nil || img.Checksum != orig.Checksum || int64(len(data)) != orig.Size {
		t.Fatalf("Variant(w=2048) of a 1000 px image=%+v, %v; want the original", img, err)
	}
	if r.n.Load() != 0 || len(f.variantBlobs(t)) != 0 {
		t.Fatal("a variant equal to the original was rendered")
	}
	// Another format is a variant even at full size.
	img, _, err = f.images.Variant(ctx, f.owner, "cat", spec(t, "2048", "", "", "png"), "")
	if err != nil || img.ContentType != "image/png" || img.Width != 1000 {
		t.Fatalf("Variant(w=2048, png)=%+v, %v", img, err)
	}
}

// TestVariant_Budget: decoding for a variant waits for, and is refused
// by, the same memory budget as uploads.
func TestVariant_Budget(t *testing.T) {
	f, _, _ := variantFixture(t)
	ctx := t.Context()
	if _, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 2000, 1500, color.White)); err != nil {
		t.Fatal(err)
	}
	f.images.Budget = &imaging.Budget{Bytes: 4 << 20}
	_, _, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "640", "", "", ""), "")
	if pixpool.ErrorCode(err) != pixpool.EINVALID || !strings.Contains(pixpool.ErrorMessage(err), "memory") {
		t.Fatalf("Variant() over the budget=%v, want EINVALID about memory", err)
	}
	f.images.Budget = &imaging.Budget{Bytes: 64 << 20}
	release, err := f.images.Budget.Acquire(ctx, 60<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.images.Budget.Wait = 1 // a nanosecond: no waiting
	_, _, err = f.images.Variant(ctx, f.owner, "cat", spec(t, "640", "", "", ""), "")
	if pixpool.ErrorCode(err) != pixpool.EUNAVAILABLE {
		t.Fatalf("Variant() with the budget in use=%v, want EUNAVAILABLE", err)
	}
	release()
	if _, _, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "640", "", "", ""), ""); err != nil {
		t.Fatalf("Variant() with room=%v", err)
	}
}

// TestVariant_Sweep: the sweeper keeps live images' variants and removes
// those of bytes no image has.
func TestVariant_Sweep(t *testing.T) {
	f, _, _ := variantFixture(t)
	ctx := t.Context()
	if _, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 800, 600, color.White)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "320", "", "", ""), ""); err != nil {
		t.Fatal(err)
	}
	live := f.variantBlobs(t)
	orphan := "var/ab/ab000000000000000000000000000000/320x0-inside.jpeg"
	if err := f.blobs.Put(ctx, orphan, bytes.NewReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := f.images.SweepOrphans(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := f.variantBlobs(t); !slices.Equal(got, live) {
		t.Fatalf("variant blobs after sweeping %q, want %q", got, live)
	}
}

// turned returns a JPEG with an Exif segment saying orientation o.
func turned(jpg []byte, o uint16) []byte {
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01")
	tiff = append(tiff, byte(o>>8), byte(o), 0, 0, 0, 0, 0, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := []byte{0xff, 0xd8, 0xff, 0xe1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}
	return append(append(out, seg...), jpg[2:]...)
}

// TestVariant_Formats: variants are upright, and a GIF's default format
// is PNG.
func TestVariant_Formats(t *testing.T) {
	f, _, _ := variantFixture(t)
	ctx := t.Context()
	// Stored 800×600, to be shown turned a quarter: 600×800 upright.
	if _, err := f.images.Put(ctx, f.owner, "portrait", turned(jpegOf(t, 800, 600, color.White), 6)); err != nil {
		t.Fatal(err)
	}
	img, data, err := f.images.Variant(ctx, f.owner, "portrait", spec(t, "320", "", "", ""), "")
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := imaging.Dimensions(data); img.Width != 320 || img.Height != 427 || info.Width != 320 || info.Height != 427 {
		t.Fatalf("variant of a turned 800×600 photo: %d×%d (bytes %d×%d), want upright 320×427", img.Width, img.Height, info.Width, info.Height)
	}
	if imaging.Orientation(data) > 1 {
		t.Fatal("the variant still says it must be turned")
	}

	var gif bytes.Buffer
	if err := encodeGIF(&gif, 400, 300); err != nil {
		t.Fatal(err)
	}
	if _, err := f.images.Put(ctx, f.owner, "anim", gif.Bytes()); err != nil {
		t.Fatal(err)
	}
	img, _, err = f.images.Variant(ctx, f.owner, "anim", spec(t, "160", "", "", ""), "")
	if err != nil || img.ContentType != "image/png" || img.Width != 160 {
		t.Fatalf("variant of a GIF: %+v, %v; want a 160 px PNG", img, err)
	}
}

func encodeGIF(w *bytes.Buffer, width, height int) error {
	m := image.NewPaletted(image.Rect(0, 0, width, height), color.Palette{color.White, color.Black})
	return gif.Encode(w, m, nil)
}

// gatedBlobs holds the first Put of a variant until gate is closed,
// telling held when it waits.
type gatedBlobs struct {
	pixpool.BlobStore
	once       sync.Once
	held, gate chan struct{}
}

func (g *gatedBlobs) Put(ctx context.Context, key string, r io.Reader) error {
	if strings.HasPrefix(key, "var/") {
		g.once.Do(func() {
			close(g.held)
			<-g.gate
		})
	}
	return g.BlobStore.Put(ctx, key, r)
}

// TestVariant_RaceReplace: a variant rendered from the old picture while
// the image is replaced is not cached or kept, and the next request gets
// the new picture.
func TestVariant_RaceReplace(t *testing.T) {
	f, cache, _ := variantFixture(t)
	ctx := t.Context()
	g := &gatedBlobs{BlobStore: f.blobs, held: make(chan struct{}), gate: make(chan struct{})}
	f.images.Blobs = g
	if _, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 800, 600, color.RGBA{220, 20, 20, 255})); err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	go func() {
		_, data, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "320", "", "", ""), "")
		if err != nil {
			t.Error(err)
		}
		done <- data
	}()
	<-g.held // rendered from red, about to be stored
	if _, err := f.images.Put(ctx, f.owner, "cat", jpegOf(t, 800, 600, color.RGBA{20, 20, 220, 255})); err != nil {
		t.Fatal(err)
	}
	close(g.gate)
	<-done // the racing request may answer with the picture it began with
	f.images.Wait()
	cache.mu.Lock()
	for k := range cache.m {
		if strings.Contains(k, "~") {
			t.Errorf("the racing render filled the cache: %q", k)
		}
	}
	cache.mu.Unlock()
	// It may have rendered again from the new picture, which it keeps;
	// nothing of the old one is left.
	cur, err := f.images.Info(ctx, f.owner, "cat")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := pixpool.ImageBlobID(cur)
	for _, k := range f.variantBlobs(t) {
		if !strings.Contains(k, "/"+id+"/") {
			t.Fatalf("the racing render left %q, not of the current image %s", k, id)
		}
	}
	_, data, err := f.images.Variant(ctx, f.owner, "cat", spec(t, "320", "", "", ""), "")
	if err != nil {
		t.Fatal(err)
	}
	if c := colorOf(t, data); c.B < 150 {
		t.Fatalf("after the replace the variant is %v, want the new blue picture", c)
	}
}
