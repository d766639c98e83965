package pixpool_test

import (
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
)

func TestValidateBlobKey(t *testing.T) {
	for _, tt := range []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{"img/ab/cdef.jpg", true},
		{"0-9_a.b-c", true},
		{"a..b/c.", true},
		{"-a/_b", true},
		{strings.Repeat("a", 255), true},
		{strings.Repeat("a/", 511) + "aa", true},
		{"", false},
		{".", false},
		{"..", false},
		{".tmp", false},
		{".tmp/put-1", false},
		{"a/.b", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"a/../b", false},
		{`a\b`, false},
		{"Ab", false},
		{"a b", false},
		{"\u00e9", false},
		{"a\x00", false},
		{strings.Repeat("a", 256), false},
		{strings.Repeat("a/", 512) + "a", false},
	} {
		err := pixpool.ValidateBlobKey(tt.key)
		if tt.ok && err != nil {
			t.Errorf("pixpool.ValidateBlobKey(%.40q)=%v, want nil", tt.key, err)
		}
		if !tt.ok && pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Errorf("pixpool.ValidateBlobKey(%.40q)=%v, want code %s", tt.key, err, pixpool.EINVALID)
		}
	}
}

func TestImageBlobID(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	good := func() *pixpool.Image {
		return &pixpool.Image{BlobKey: "img/01/" + id + ".png", ThumbKey: "thumb/01/" + id + ".jpg", ContentType: "image/png"}
	}
	if got, err := pixpool.ImageBlobID(good()); got != id || err != nil {
		t.Fatalf("ImageBlobID(good)=%q, %v; want %q, nil", got, err, id)
	}
	if k := pixpool.ImageBlobKey(id, "webp"); k != "img/01/"+id+".webp" || pixpool.ValidateBlobKey(k) != nil {
		t.Fatalf("ImageBlobKey=%q", k)
	}
	if k := pixpool.ThumbBlobKey(id); k != "thumb/01/"+id+".jpg" || pixpool.ValidateBlobKey(k) != nil {
		t.Fatalf("ThumbBlobKey=%q", k)
	}
	noThumb := good()
	noThumb.ThumbKey = ""
	if _, err := pixpool.ImageBlobID(noThumb); err != nil {
		t.Fatalf("ImageBlobID(no thumbnail)=%v", err)
	}
	for _, tt := range []struct {
		name string
		edit func(*pixpool.Image)
	}{
		{"backups", func(i *pixpool.Image) { i.BlobKey = "backups/backup-20261101-030000-abcdef.tar.gz" }},
		{"backups thumb", func(i *pixpool.Image) { i.ThumbKey = "backups/backup-20261101-030000-abcdef.json" }},
		{"dot dot", func(i *pixpool.Image) { i.BlobKey = "img/01/../../backups/" + id + ".png" }},
		{"absolute", func(i *pixpool.Image) { i.BlobKey = "/img/01/" + id + ".png" }},
		{"wrong folder", func(i *pixpool.Image) { i.BlobKey = "img/02/" + id + ".png" }},
		{"thumb as image", func(i *pixpool.Image) { i.BlobKey = "thumb/01/" + id + ".png" }},
		{"other id's thumb", func(i *pixpool.Image) { i.ThumbKey = "thumb/ff/ff" + id[2:] + ".jpg" }},
		{"upper case", func(i *pixpool.Image) { i.BlobKey = "img/01/" + strings.ToUpper(id) + ".png" }},
		{"short id", func(i *pixpool.Image) { i.BlobKey = "img/01/0123.png"; i.ThumbKey = "" }},
		{"extension of another type", func(i *pixpool.Image) { i.ContentType = "image/gif" }},
		{"bogus content type", func(i *pixpool.Image) { i.ContentType = "text/html" }},
		{"no extension", func(i *pixpool.Image) { i.BlobKey = "img/01/" + id }},
		{"empty", func(i *pixpool.Image) { i.BlobKey = "" }},
		{"trailing", func(i *pixpool.Image) { i.BlobKey += "/x" }},
	} {
		img := good()
		tt.edit(img)
		if _, err := pixpool.ImageBlobID(img); pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Errorf("%s: ImageBlobID(%+v)=%v, want code %s", tt.name, img, err, pixpool.EINVALID)
		}
	}
}
