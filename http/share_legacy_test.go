package http

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pixpool/pixpool/imaging/exiftest"
)

// TestShare_LegacyImageStripped: an image stored before uploads were
// stripped (no source checksum; its bytes still carry EXIF with a GPS
// position, as after an upgrade or the restore of an older backup) is
// stripped when a share link serves it: its owner's metadata never
// reaches strangers.
func TestShare_LegacyImageStripped(t *testing.T) {
	e := newShareEnv(t)
	ctx := context.Background()
	ada, err := e.srv.Store.UserByUsername(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	photo := exiftest.JPEG(64, 48, exiftest.Sample)
	img, err := e.srv.Images.Put(ctx, ada.ID, "old/gps.jpg", photo)
	if err != nil {
		t.Fatal(err)
	}
	// Make it look as a legacy image does: its bytes as uploaded, no
	// metadata summary, no source checksum.
	if err := e.srv.Images.Blobs.Put(ctx, img.BlobKey, bytes.NewReader(photo)); err != nil {
		t.Fatal(err)
	}
	img.Size, img.Metadata, img.SourceChecksum = int64(len(photo)), "", ""
	if _, err := e.srv.Store.PutImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	if _, got, err := e.srv.Images.Get(ctx, ada.ID, "old/gps.jpg"); err != nil || !bytes.Equal(got, photo) {
		t.Fatalf("legacy image: %d bytes, %v; want the upload as it came", len(got), err)
	}

	_, link := e.share(t, e.ada, url.Values{"kind": {"image"}, "key": {"old/gps.jpg"}, "expires": {"never"}})
	resp, body := e.stranger.get(link)
	wantStatus(t, resp, body, http.StatusOK)
	src := srcOf(t, body, "shared-image")
	for _, p := range []string{src, src + "&download=1"} {
		resp, raw := e.stranger.get(p)
		wantStatus(t, resp, "", http.StatusOK)
		for _, secret := range []string{"Exif\x00\x00", "TestCam", "Jane Secret", "shot by"} {
			if strings.Contains(raw, secret) {
				t.Fatalf("%s: the shared bytes still hold %q", p, secret)
			}
		}
		if len(raw) >= len(photo) || !strings.HasPrefix(raw, "\xff\xd8") {
			t.Fatalf("%s: %d bytes; want a JPEG smaller than the %d of the upload", p, len(raw), len(photo))
		}
	}
}
