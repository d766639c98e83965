package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
)

// editRows applies edit to each row of table in an unpacked archive; a row
// for which edit returns false is dropped.
func editRows(t *testing.T, files map[string][]byte, table string, edit func(n int, row map[string]any) bool) {
	t.Helper()
	var out []byte
	for n, line := range bytes.SplitAfter(files[table+".jsonl"], []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		var row map[string]any
		if err := d.Decode(&row); err != nil {
			t.Fatal(err)
		}
		if !edit(n+1, row) {
			continue
		}
		b, err := json.Marshal(row)
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, b...), '\n')
	}
	files[table+".jsonl"] = out
}

// TestRestoreRefusesForeignBlobs: an archive whose image rows name blobs
// pixpool would not have given them (the backups, another user's image,
// paths out of img/) is refused before anything changes, even with its
// checksums redone so that only the row check can tell.
func TestRestoreRefusesForeignBlobs(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testRestoreRefusesForeignBlobs(t, newFixture(t)) })
	t.Run("PostgreSQL", func(t *testing.T) { testRestoreRefusesForeignBlobs(t, newPostgresFixture(t)) })
}

func testRestoreRefusesForeignBlobs(t *testing.T, f *fixture) {
	f.fill(t)
	ctx := context.Background()
	good := archiveBytes(t, f)
	infos, err := f.svc.List(ctx)
	if err != nil || len(infos) != 1 {
		t.Fatalf("List = %v, %v", infos, err)
	}
	archive, record := archiveKey(infos[0].Name), infoKey(infos[0].Name)
	// The rows of images.jsonl, in order: ada's three (ids 1-3), bob's
	// three (4-6), Émile's three (7-9); each user's second has a thumbnail.
	adaCat := pixpool.ImageBlobKey(strings.Repeat("0", 30)+"00", "png")
	bob, _ := f.store.UserByUsername(ctx, "bob")
	f.store.SetPasswordHash(ctx, bob.ID, "changed since the backup")
	before := export(t, f.store)

	image := func(row int, edit func(img map[string]any)) []byte {
		return rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			editRows(t, files, "images", func(n int, img map[string]any) bool {
				if n == row {
					edit(img)
				}
				return true
			})
		})
	}
	for _, tt := range []struct {
		name    string
		archive []byte
		want    string
	}{
		{"blob is a backup", image(4, func(img map[string]any) { img["blob_key"] = archive }),
			`images row 4: image "cat.png" of user "bob": blob key "` + archive + `" is not the form`},
		{"thumbnail is a backup record", image(5, func(img map[string]any) { img["thumb_key"] = record }),
			`images row 5: image "dir/ünïcode key.jpg" of user "bob": thumbnail key "` + record + `" is not`},
		{"dot dot", image(4, func(img map[string]any) { img["blob_key"] = "img/00/../../" + archive }), "images row 4"},
		{"absolute", image(4, func(img map[string]any) { img["blob_key"] = "/etc/passwd" }), "images row 4"},
		{"another user's blob", image(4, func(img map[string]any) { img["blob_key"] = adaCat }),
			"images row 4: image \"cat.png\" of user \"bob\": its blob " + adaCat + " is also that of images row 1"},
		{"another user's thumbnail", image(4, func(img map[string]any) { img["thumb_key"] = pixpool.ThumbBlobKey(strings.Repeat("0", 30) + "01") }),
			"images row 4: image \"cat.png\" of user \"bob\": thumbnail key"},
		{"another user's blob, their row left out", rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			editRows(t, files, "analyses", func(n int, a map[string]any) bool { return a["image_id"].(json.Number) != "1" })
			editRows(t, files, "images", func(n int, img map[string]any) bool {
				if img["id"].(json.Number) == "4" {
					img["blob_key"] = adaCat
				}
				return img["id"].(json.Number) != "1"
			})
		}), "images row 3: image \"cat.png\" of user \"bob\": its blob " + adaCat + " is an image of another user (\"ada\") in the current database"},
		{"bogus content type", image(4, func(img map[string]any) { img["content_type"] = "text/html" }),
			`images row 4: image "cat.png" of user "bob": content type "text/html" is not one of`},
		{"content type of another extension", image(4, func(img map[string]any) { img["content_type"] = "image/gif" }),
			"images row 4: image \"cat.png\" of user \"bob\": blob key"},
		{"owner not in the backup", image(4, func(img map[string]any) { img["owner_id"] = 999 }),
			"images row 4: image \"cat.png\" of user id 999, who is not in the backup"},
		{"negative size", image(4, func(img map[string]any) { img["size"] = -1 }), "images row 4: image \"cat.png\" of user \"bob\": size -1"},
		{"not a checksum", image(4, func(img map[string]any) { img["checksum"] = "x" }), "images row 4: image \"cat.png\" of user \"bob\": checksum"},
		{"analysis of no image", rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
			editRows(t, files, "analyses", func(n int, a map[string]any) bool { a["image_id"] = 999; return true })
		}), "analyses row 1: analysis of image id 999, which is not in the backup"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Restore(ctx, bytes.NewReader(tt.archive), RestoreOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Restore = %v; want an error saying %q", err, tt.want)
			}
			if code := pixpool.ErrorCode(err); code != pixpool.EINVALID {
				t.Errorf("error code %s for %v; want %s", code, err, pixpool.EINVALID)
			}
			if after := export(t, f.store); !reflect.DeepEqual(before, after) {
				t.Fatal("the store changed")
			}
		})
	}
	// One user's identical images share their blobs (deduplication): an
	// archive of such rows restores.
	shared := rewrite(t, good, false, func(files map[string][]byte, m *Manifest) {
		var first map[string]any
		editRows(t, files, "images", func(n int, img map[string]any) bool {
			switch n {
			case 4:
				first = img
			case 5:
				for _, k := range []string{"blob_key", "thumb_key", "content_type", "size", "checksum"} {
					img[k] = first[k]
				}
			}
			return true
		})
	})
	if _, err := f.svc.Restore(ctx, bytes.NewReader(shared), RestoreOptions{}); err != nil {
		t.Fatalf("restore of one user's images sharing a blob: %v", err)
	}
	// The genuine backup still restores.
	if _, err := f.svc.Restore(ctx, bytes.NewReader(good), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if h, _ := f.store.PasswordHash(ctx, bob.ID); h != "hash-of-bob" {
		t.Fatalf("hash %q", h)
	}
}
