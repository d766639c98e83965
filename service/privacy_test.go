package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging"
	"github.com/pixpool/pixpool/imaging/exiftest"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestImages_PutStripsMetadata(t *testing.T) {
	ctx := context.Background()
	for _, keep := range []bool{false, true} {
		name := map[bool]string{false: "OriginalsOff", true: "OriginalsKept"}[keep]
		t.Run(name, func(t *testing.T) {
			f := open(t, t.TempDir())
			f.images.Cache = &mapCache{m: map[string][]byte{}}
			f.images.Policies = &Policies{Store: f.store}
			if err := f.images.Policies.Set(ctx, pixpool.Policy{TrashDays: 30, KeepOriginals: keep}); err != nil {
				t.Fatal(err)
			}
			p := exiftest.Sample
			p.Orientation = 6
			upload := exiftest.JPEG(64, 48, p)
			img, err := f.images.Put(ctx, f.owner, "trip/lake.jpg", upload)
			if err != nil {
				t.Fatal(err)
			}
			// Served bytes, from the cache and from the stores, carry no
			// metadata but the orientation.
			for _, fromCache := range []bool{true, false} {
				if !fromCache {
					f.images.Cache = nil
				}
				_, data, err := f.images.Get(ctx, f.owner, "trip/lake.jpg")
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(data, []byte("TestCam")) || bytes.Contains(data, []byte("Jane Secret")) || bytes.Equal(data, upload) {
					t.Fatalf("served bytes (cache %v) still hold metadata", fromCache)
				}
				if got := imaging.Orientation(data); got != 6 {
					t.Errorf("served orientation %d, want 6", got)
				}
				if img.Checksum != sha(data) || img.Size != int64(len(data)) {
					t.Errorf("Checksum/Size %s/%d are not the served bytes' %s/%d", img.Checksum, img.Size, sha(data), len(data))
				}
			}
			// The thumbnail is upright (48×64), made at upload and on
			// demand from the stored, stripped bytes.
			for _, onDemand := range []bool{false, true} {
				f.images.Wait()
				if onDemand {
					f.blobs.Delete(ctx, img.ThumbKey)
				}
				_, thumb, err := f.images.Thumbnail(ctx, f.owner, "trip/lake.jpg")
				if err != nil {
					t.Fatal(err)
				}
				cfg, _, err := image.DecodeConfig(bytes.NewReader(thumb))
				if err != nil || cfg.Width != 48 || cfg.Height != 64 {
					t.Errorf("thumbnail (on demand %v) %d×%d (%v), want 48×64", onDemand, cfg.Width, cfg.Height, err)
				}
			}
			if img.SourceChecksum != sha(upload) {
				t.Errorf("SourceChecksum %s, want the upload's %s", img.SourceChecksum, sha(upload))
			}
			info, err := f.images.Info(ctx, f.owner, "trip/lake.jpg")
			if err != nil {
				t.Fatal(err)
			}
			var m pixpool.ImageMetadata
			if err := json.Unmarshal([]byte(info.Metadata), &m); err != nil {
				t.Fatalf("metadata %q: %v", info.Metadata, err)
			}
			if m.Make != "TestCam" || m.GPS == nil || m.GPS.Latitude != 46.519654 || len(m.Stripped) == 0 {
				t.Errorf("metadata %+v", m)
			}
			if info.SourceChecksum != img.SourceChecksum {
				t.Errorf("stored SourceChecksum %q", info.SourceChecksum)
			}

			_, orig, err := f.images.Original(ctx, f.owner, "trip/lake.jpg")
			if !keep {
				if pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
					t.Fatalf("Original without a kept one: %v, want ENOTFOUND", err)
				}
				if info.OriginalKey != "" {
					t.Fatalf("original kept against the policy: %q", info.OriginalKey)
				}
				return
			}
			if err != nil || !bytes.Equal(orig, upload) {
				t.Fatalf("Original: %v (equal %v)", err, bytes.Equal(orig, upload))
			}
			if info.OriginalSize != int64(len(upload)) || info.StoredBytes() != info.Size+info.ThumbSize+int64(len(upload)) {
				t.Errorf("OriginalSize %d", info.OriginalSize)
			}
			// Another user's key is not found, like a missing one.
			if _, _, err := f.images.Original(ctx, f.owner+1, "trip/lake.jpg"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
				t.Errorf("another user's original: %v, want ENOTFOUND", err)
			}
			// Turned off later: refused, saying so.
			if err := f.images.Policies.Set(ctx, pixpool.Policy{TrashDays: 30}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.images.Original(ctx, f.owner, "trip/lake.jpg"); pixpool.ErrorCode(err) != pixpool.EFORBIDDEN {
				t.Errorf("original after the policy turned off: %v, want EFORBIDDEN", err)
			}
			if err := f.images.Policies.Set(ctx, pixpool.Policy{TrashDays: 30, KeepOriginals: true}); err != nil {
				t.Fatal(err)
			}
			// Replacing and deleting remove the original.
			if _, err := f.images.Put(ctx, f.owner, "trip/lake.jpg", exiftest.JPEG(32, 32, exiftest.Sample)); err != nil {
				t.Fatal(err)
			}
			if _, err := f.blobs.Get(ctx, info.OriginalKey); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
				t.Errorf("replaced image's original still stored: %v", err)
			}
			cur, _ := f.images.Info(ctx, f.owner, "trip/lake.jpg")
			if err := f.images.Delete(ctx, f.owner, "trip/lake.jpg"); err != nil {
				t.Fatal(err)
			}
			f.images.Wait()
			if _, err := f.blobs.Get(ctx, cur.OriginalKey); cur.OriginalKey == "" || pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
				t.Errorf("deleted image's original %q still stored: %v", cur.OriginalKey, err)
			}
		})
	}
}

// TestImages_PutClean: an image without metadata is stored as uploaded,
// with no original kept even under the policy.
func TestImages_PutClean(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	f.images.Policies = &Policies{Store: f.store}
	if err := f.images.Policies.Set(ctx, pixpool.Policy{KeepOriginals: true}); err != nil {
		t.Fatal(err)
	}
	upload := pngOf(t, 8, 8, color.RGBA{1, 2, 3, 255})
	img, err := f.images.Put(ctx, f.owner, "clean.png", upload)
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := f.images.Get(ctx, f.owner, "clean.png")
	if err != nil || !bytes.Equal(data, upload) {
		t.Fatalf("clean image changed: %v", err)
	}
	if img.OriginalKey != "" || img.Metadata != "" || img.Checksum != img.SourceChecksum {
		t.Errorf("image %+v", img)
	}
	if _, _, err := f.images.Original(ctx, f.owner, "clean.png"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Errorf("Original: %v, want ENOTFOUND", err)
	}
}
