package service

import (
	"context"
	"database/sql"
	"fmt"
	"image/color"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging/exiftest"
)

// withPolicy sets f's storage policy to pol.
func (f *fixture) withPolicy(t *testing.T, pol pixpool.Policy) {
	t.Helper()
	f.images.Policies = &Policies{Store: f.store}
	if err := f.images.Policies.Set(t.Context(), pol); err != nil {
		t.Fatal(err)
	}
}

// rawDB opens f's database beside the store, for rows no service writes
// yet in these tests (trash, variants, shared blobs).
func (f *fixture) rawDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(f.dir, "db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (f *fixture) exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (f *fixture) usage(t *testing.T) pixpool.Usage {
	t.Helper()
	u, _, err := f.images.Quota(t.Context(), f.owner)
	if err != nil {
		t.Fatalf("Quota()=%v", err)
	}
	return u
}

func wantQuotaError(t *testing.T, err error, parts ...string) {
	t.Helper()
	if got := pixpool.ErrorCode(err); got != pixpool.EQUOTA {
		t.Fatalf("err=%v, want code %s", err, pixpool.EQUOTA)
	}
	msg := pixpool.ErrorMessage(err)
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Fatalf("message %q, want it to say %q", msg, p)
		}
	}
}

func TestImages_QuotaBytes(t *testing.T) {
	f := open(t, t.TempDir())
	ctx := t.Context()
	data := pngOf(t, 64, 64, color.RGBA{200, 10, 10, 255})
	n := int64(len(data))
	// Room for two uploads and their thumbnails' estimates, not three.
	quota := 2*(n+thumbEstimate(n)) + n/2
	f.withPolicy(t, pixpool.Policy{QuotaBytes: quota, TrashDays: 30})
	for _, key := range []string{"a", "b"} {
		if _, err := f.images.Put(ctx, f.owner, key, data); err != nil {
			t.Fatalf("Put(%q)=%v", key, err)
		}
	}
	f.images.Wait() // thumbnails made, their real sizes recorded
	_, err := f.images.Put(ctx, f.owner, "c", data)
	wantQuotaError(t, err, "This upload needs "+pixpool.FormatSize(n+thumbEstimate(n)), "left of your "+pixpool.FormatSize(quota)+" quota", "used", "ask an administrator")

	t.Run("ThumbSize", func(t *testing.T) {
		img, err := f.store.Image(ctx, f.owner, "a")
		if err != nil {
			t.Fatal(err)
		}
		if img.ThumbSize <= 0 {
			t.Fatalf("ThumbSize=%d, want the thumbnail's size", img.ThumbSize)
		}
		// a and b are the same bytes: they share one copy (deduplication),
		// counted once.
		if got, want := f.usage(t).Bytes, img.StoredBytes(); got != want {
			t.Fatalf("Usage.Bytes=%d, want %d", got, want)
		}
	})
	t.Run("Replace", func(t *testing.T) {
		// Replacing counts the new bytes minus the old: the same image
		// again fits, a larger one does not.
		if _, err := f.images.Put(ctx, f.owner, "a", data); err != nil {
			t.Fatalf("Put(a) again=%v, want it to fit", err)
		}
		big := pngOf(t, 256, 256, color.RGBA{1, 2, 3, 255})
		big = append(big, make([]byte, int(quota))...) // trailing bytes: still a PNG
		_, err := f.images.Put(ctx, f.owner, "a", big)
		if pixpool.ErrorCode(err) != pixpool.EQUOTA {
			t.Fatalf("Put(a, larger than the quota)=%v, want EQUOTA", err)
		}
	})
	t.Run("Trash", func(t *testing.T) {
		db := f.rawDB(t)
		f.exec(t, db, `INSERT INTO trash (owner_id, key, blob_key, thumb_key, size, content_type, width, height, checksum, created_at,
			thumb_size, original_key, original_size, metadata, source_checksum, deleted_at, purge_at)
			VALUES (?, 'old', 'img/dd/dddddddddddddddddddddddddddddddd.png', '', 3000000, 'image/png', 1, 1, '', 0, 0, '', 0, '', '', 0, 0)`, f.owner)
		u := f.usage(t)
		if u.TrashImages != 1 || u.TrashBytes != 3000000 || u.Images != 3 {
			t.Fatalf("Usage=%+v, want the trash row counted", u)
		}
		_, err := f.images.Put(ctx, f.owner, "c", data)
		wantQuotaError(t, err, "trash included: empty the trash to free 2.9 MiB")
		f.exec(t, db, `DELETE FROM trash`)
	})
	t.Run("Variants", func(t *testing.T) {
		db := f.rawDB(t)
		before := f.usage(t).Bytes
		img, _ := f.store.Image(ctx, f.owner, "a")
		f.exec(t, db, `INSERT INTO variants (blob_key, source_key, owner_id, spec, size, created_at) VALUES ('var/x', ?, ?, 'w=100', 777, 0)`, img.BlobKey, f.owner)
		if u := f.usage(t); u.Bytes != before+777 || u.VariantBytes != 777 {
			t.Fatalf("Usage=%+v, want the variant's 777 bytes counted over %d", u, before)
		}
		f.exec(t, db, `DELETE FROM variants`)
	})
	t.Run("Dedup", func(t *testing.T) {
		// Two rows sharing one blob (identical images stored once) count
		// its bytes once.
		db := f.rawDB(t)
		before := f.usage(t)
		img, _ := f.store.Image(ctx, f.owner, "a")
		f.exec(t, db, `INSERT INTO images (owner_id, key, blob_key, thumb_key, size, content_type, width, height, checksum, created_at, thumb_size)
			SELECT owner_id, 'a-copy', blob_key, thumb_key, size, content_type, width, height, checksum, created_at, thumb_size FROM images WHERE id = ?`, img.ID)
		if u := f.usage(t); u.Bytes != before.Bytes || u.Images != before.Images+1 {
			t.Fatalf("Usage=%+v, want bytes %d (shared blob once) and %d images", u, before.Bytes, before.Images+1)
		}
	})
	t.Run("OwnQuota", func(t *testing.T) {
		// A user's own quota wins over the default; 0 is no limit.
		zero := int64(0)
		if err := f.images.SetQuota(ctx, f.owner, &zero, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.images.Put(ctx, f.owner, "c", data); err != nil {
			t.Fatalf("Put with no byte limit=%v", err)
		}
		_, q, err := f.images.Quota(ctx, f.owner)
		if err != nil || q.Bytes != 0 || q.BytesDefault || !q.ImagesDefault {
			t.Fatalf("Quota()=%+v, %v, want the user's own 0 bytes and the default images", q, err)
		}
	})
}

func TestImages_QuotaImages(t *testing.T) {
	f := open(t, t.TempDir())
	ctx := t.Context()
	f.withPolicy(t, pixpool.Policy{QuotaImages: 2, TrashDays: 30})
	data := pngOf(t, 8, 8, color.White)
	for _, key := range []string{"a", "b"} {
		if _, err := f.images.Put(ctx, f.owner, key, data); err != nil {
			t.Fatalf("Put(%q)=%v", key, err)
		}
	}
	_, err := f.images.Put(ctx, f.owner, "c", data)
	wantQuotaError(t, err, "You have 2 of your 2 images")
	if _, err := f.images.Put(ctx, f.owner, "b", data); err != nil {
		t.Fatalf("Put(b) replacing=%v, want it allowed (no image added)", err)
	}
}

// TestImages_QuotaConcurrent: uploads racing for the last room of a quota
// do not all pass the check.
func TestImages_QuotaConcurrent(t *testing.T) {
	f := open(t, t.TempDir())
	const limit, uploads = 3, 12
	f.withPolicy(t, pixpool.Policy{QuotaImages: limit, TrashDays: 30})
	data := pngOf(t, 8, 8, color.White)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stored  int
		refused int
	)
	for i := range uploads {
		wg.Go(func() {
			_, err := f.images.Put(context.Background(), f.owner, fmt.Sprint("k", i), data)
			mu.Lock()
			defer mu.Unlock()
			switch pixpool.ErrorCode(err) {
			case "":
				stored++
			case pixpool.EQUOTA:
				refused++
			default:
				t.Errorf("Put()=%v", err)
			}
		})
	}
	wg.Wait()
	if stored > limit || stored+refused != uploads {
		t.Fatalf("stored %d, refused %d of %d uploads, want at most %d stored", stored, refused, uploads, limit)
	}
	if u := f.usage(t); u.Images != int64(stored) || u.Images > limit {
		t.Fatalf("Usage.Images=%d, want %d (at most %d)", u.Images, stored, limit)
	}
}

// TestImages_QuotaOriginals: with originals kept, an upload whose
// metadata is stripped counts both the served bytes and the original.
func TestImages_QuotaOriginals(t *testing.T) {
	f := open(t, t.TempDir())
	ctx := t.Context()
	photo := exiftest.JPEG(64, 48, exiftest.Photo{Make: "Pixcam"})
	n := int64(len(photo))
	// Room for the served copy and its thumbnail, not for the original too.
	f.withPolicy(t, pixpool.Policy{QuotaBytes: n + thumbEstimate(n) + 10, TrashDays: 30, KeepOriginals: true})
	_, err := f.images.Put(ctx, f.owner, "photo.jpg", photo)
	wantQuotaError(t, err, "This upload needs ")
	f.withPolicy(t, pixpool.Policy{QuotaBytes: 2*n + thumbEstimate(n), TrashDays: 30, KeepOriginals: true})
	img, err := f.images.Put(ctx, f.owner, "photo.jpg", photo)
	if err != nil {
		t.Fatalf("Put()=%v", err)
	}
	if img.OriginalSize != n {
		t.Fatalf("OriginalSize=%d, want %d", img.OriginalSize, n)
	}
	f.images.Wait()
	if got, want := f.usage(t).Bytes, img.Size+img.OriginalSize; got < want {
		t.Fatalf("Usage.Bytes=%d, want at least the served copy and the original, %d", got, want)
	}
}

// TestImages_QuotaReplaceAtQuota: a user at their byte quota may replace
// an image with the same or a smaller one (docs/quotas.md): the new
// thumbnail is not counted at the upload-sized estimate against the old
// one's real size.
func TestImages_QuotaReplaceAtQuota(t *testing.T) {
	f := open(t, t.TempDir())
	ctx := t.Context()
	data := jpegOf(t, 1200, 800, color.RGBA{200, 30, 30, 255})
	if _, err := f.images.Put(ctx, f.owner, "a", data); err != nil {
		t.Fatal(err)
	}
	f.images.Wait() // the thumbnail's real size recorded
	f.withPolicy(t, pixpool.Policy{QuotaBytes: f.usage(t).Bytes, TrashDays: 30})
	if _, err := f.images.Put(ctx, f.owner, "a", data); err != nil {
		t.Fatalf("Put(a) again at the quota=%v, want the same image to replace itself", err)
	}
	f.images.Wait()
	smaller := jpegOf(t, 1000, 700, color.RGBA{200, 30, 30, 255})
	if len(smaller) >= len(data) {
		t.Fatalf("smaller image of %d bytes, not under %d", len(smaller), len(data))
	}
	if _, err := f.images.Put(ctx, f.owner, "a", smaller); err != nil {
		t.Fatalf("Put(a, smaller) at the quota=%v, want it allowed", err)
	}
}

// TestImages_QuotaOldThumbSize: an image stored before quotas existed
// (thumb_size 0, its thumbnail made long ago) has its thumbnail counted
// once it is served, rather than never (it is never made again).
func TestImages_QuotaOldThumbSize(t *testing.T) {
	f := open(t, t.TempDir())
	ctx := t.Context()
	if _, err := f.images.Put(ctx, f.owner, "a", jpegOf(t, 800, 600, color.RGBA{200, 30, 30, 255})); err != nil {
		t.Fatal(err)
	}
	f.images.Wait()
	f.exec(t, f.rawDB(t), `UPDATE images SET thumb_size = 0`) // as migration 9 leaves it
	_, thumb, err := f.images.Thumbnail(ctx, f.owner, "a")
	if err != nil {
		t.Fatal(err)
	}
	img, err := f.store.Image(ctx, f.owner, "a")
	if err != nil || img.ThumbSize != int64(len(thumb)) {
		t.Fatalf("ThumbSize=%d, %v after the thumbnail was served; want its %d bytes counted", img.ThumbSize, err, len(thumb))
	}
}
