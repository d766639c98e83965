package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// runTrash runs the trash's and deduplication's tests, one store each.
func runTrash(t *testing.T, open func(t *testing.T) pixpool.Store) {
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, s pixpool.Store)
	}{
		{"Trash/Move", testTrashMove},
		{"Trash/Restore", testTrashRestore},
		{"Trash/Purge", testTrashPurge},
		{"Trash/PurgeExpired", testTrashPurgeExpired},
		{"Trash/BlobKeys", testTrashBlobKeys},
		{"Trash/IDsNotReused", testTrashIDsNotReused},
		{"Dedup/Share", testDedupShare},
		{"Dedup/FilesShared", testDedupFilesShared},
		{"Dedup/KeepsOriginal", testDedupKeepsOriginal},
		{"Dedup/RaceDelete", testDedupRaceDelete},
		{"Dedup/RacePurge", testDedupRacePurge},
		{"Dedup/CrossReplace", testDedupCrossReplace},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// trashImage moves an image to the trash, failing t on an error.
func trashImage(t *testing.T, s pixpool.Store, ownerID int64, key string, purgeAt time.Time) *pixpool.TrashedImage {
	t.Helper()
	got, err := s.TrashImage(t.Context(), ownerID, key, purgeAt)
	if err != nil {
		t.Fatalf("TrashImage(%q)=%v", key, err)
	}
	return got
}

func trashKeys(t *testing.T, s pixpool.Store, ownerID int64) []string {
	t.Helper()
	items, err := s.TrashedImages(t.Context(), ownerID, 0, 0)
	if err != nil {
		t.Fatalf("TrashedImages()=%v", err)
	}
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	return keys
}

func testTrashMove(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	img := putImage(t, s, ada.ID, "cat.png")
	putImage(t, s, bob.ID, "cat.png")
	purgeAt := t0.Add(30 * 24 * time.Hour)

	_, err := s.TrashImage(ctx, ada.ID, "no-such.png", purgeAt)
	wantCode(t, "TrashImage(missing)", err, pixpool.ENOTFOUND)

	got := trashImage(t, s, ada.ID, "cat.png", purgeAt)
	want := *img
	want.ID = got.ID
	checkImage(t, &got.Image, &want)
	checkTime(t, "PurgeAt", got.PurgeAt, purgeAt)
	if got.DeletedAt.IsZero() || got.DeletedAt.Location() != time.UTC {
		t.Fatalf("DeletedAt=%v, want now in UTC", got.DeletedAt)
	}
	_, err = s.Image(ctx, ada.ID, "cat.png")
	wantCode(t, "Image(trashed)", err, pixpool.ENOTFOUND)
	if _, err := s.Image(ctx, bob.ID, "cat.png"); err != nil {
		t.Fatalf("another owner's image: %v", err)
	}
	one, err := s.TrashedImage(ctx, ada.ID, got.ID)
	if err != nil {
		t.Fatalf("TrashedImage()=%v", err)
	}
	checkImage(t, &one.Image, &want)
	checkTime(t, "PurgeAt", one.PurgeAt, purgeAt)
	_, err = s.TrashedImage(ctx, bob.ID, got.ID)
	wantCode(t, "TrashedImage(another owner's)", err, pixpool.ENOTFOUND)

	// One key can be in the trash several times; newest first.
	putImage(t, s, ada.ID, "cat.png")
	second := trashImage(t, s, ada.ID, "cat.png", purgeAt)
	if second.ID == got.ID {
		t.Fatalf("second trash entry has the first's id %d", got.ID)
	}
	items, err := s.TrashedImages(ctx, ada.ID, 0, 0)
	if err != nil {
		t.Fatalf("TrashedImages()=%v", err)
	}
	if len(items) != 2 || items[0].ID != second.ID || items[1].ID != got.ID {
		t.Fatalf("TrashedImages()=%v, want entries %d then %d", items, second.ID, got.ID)
	}
	if page, _ := s.TrashedImages(ctx, ada.ID, 1, 1); len(page) != 1 || page[0].ID != got.ID {
		t.Fatalf("TrashedImages(limit 1, offset 1)=%v, want entry %d", page, got.ID)
	}
	for _, c := range []struct {
		owner int64
		want  int
	}{{ada.ID, 2}, {bob.ID, 0}, {0, 2}} {
		if n, err := s.CountTrash(ctx, c.owner); err != nil || n != c.want {
			t.Fatalf("CountTrash(%d)=%d, %v, want %d", c.owner, n, err, c.want)
		}
	}
}

func testTrashRestore(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	img := putImage(t, s, ada.ID, "cat.png")
	tr := trashImage(t, s, ada.ID, "cat.png", t0)

	_, err := s.RestoreImage(ctx, bob.ID, tr.ID, "")
	wantCode(t, "RestoreImage(another owner's)", err, pixpool.ENOTFOUND)
	_, err = s.RestoreImage(ctx, ada.ID, tr.ID+1000, "")
	wantCode(t, "RestoreImage(missing)", err, pixpool.ENOTFOUND)

	// A live image under the key: refused, and the entry stays.
	putImage(t, s, ada.ID, "cat.png")
	_, err = s.RestoreImage(ctx, ada.ID, tr.ID, "")
	wantCode(t, "RestoreImage(key taken)", err, pixpool.ECONFLICT)
	if _, err := s.TrashedImage(ctx, ada.ID, tr.ID); err != nil {
		t.Fatalf("entry after a refused restore: %v", err)
	}

	// Under another key.
	got, err := s.RestoreImage(ctx, ada.ID, tr.ID, "cat (old).png")
	if err != nil {
		t.Fatalf("RestoreImage(new key)=%v", err)
	}
	want := *img
	want.ID, want.Key = got.ID, "cat (old).png"
	checkImage(t, got, &want)
	stored, err := s.Image(ctx, ada.ID, "cat (old).png")
	if err != nil {
		t.Fatalf("Image(restored)=%v", err)
	}
	checkImage(t, stored, &want)
	_, err = s.TrashedImage(ctx, ada.ID, tr.ID)
	wantCode(t, "TrashedImage(restored)", err, pixpool.ENOTFOUND)
	_, err = s.RestoreImage(ctx, ada.ID, tr.ID, "")
	wantCode(t, "RestoreImage(twice)", err, pixpool.ENOTFOUND)

	// Under its own key, free again.
	tr = trashImage(t, s, ada.ID, "cat.png", t0)
	got, err = s.RestoreImage(ctx, ada.ID, tr.ID, "")
	if err != nil {
		t.Fatalf("RestoreImage()=%v", err)
	}
	if got.Key != "cat.png" {
		t.Fatalf("restored key %q, want cat.png", got.Key)
	}
	if n, _ := s.CountTrash(ctx, ada.ID); n != 0 {
		t.Fatalf("CountTrash()=%d after restoring everything, want 0", n)
	}
}

func testTrashPurge(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	for _, k := range []string{"a", "b", "c"} {
		putImage(t, s, ada.ID, k)
	}
	putImage(t, s, bob.ID, "a")
	a := trashImage(t, s, ada.ID, "a", t0)
	trashImage(t, s, ada.ID, "b", t0)
	trashImage(t, s, bob.ID, "a", t0)

	_, err := s.PurgeTrash(ctx, bob.ID, a.ID)
	wantCode(t, "PurgeTrash(another owner's)", err, pixpool.ENOTFOUND)
	got, err := s.PurgeTrash(ctx, ada.ID, a.ID)
	if err != nil || got.ID != a.ID || got.Key != "a" || got.FilesShared {
		t.Fatalf("PurgeTrash()=%+v, %v, want entry %d, files not shared", got, err, a.ID)
	}
	_, err = s.PurgeTrash(ctx, ada.ID, a.ID)
	wantCode(t, "PurgeTrash(twice)", err, pixpool.ENOTFOUND)

	items, err := s.EmptyTrash(ctx, ada.ID)
	if err != nil || len(items) != 1 || items[0].Key != "b" {
		t.Fatalf("EmptyTrash()=%v, %v, want b", items, err)
	}
	if got := trashKeys(t, s, bob.ID); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("bob's trash=%q after ada emptied hers, want [a]", got)
	}
	if _, err := s.Image(ctx, ada.ID, "c"); err != nil {
		t.Fatalf("a live image after EmptyTrash: %v", err)
	}
	n, err := s.DeleteAllTrash(ctx)
	if err != nil || n != 1 {
		t.Fatalf("DeleteAllTrash()=%d, %v, want 1", n, err)
	}
	if n, _ := s.CountTrash(ctx, 0); n != 0 {
		t.Fatalf("CountTrash()=%d after DeleteAllTrash, want 0", n)
	}
}

func testTrashPurgeExpired(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	for i, owner := range []int64{ada.ID, bob.ID, ada.ID, ada.ID} {
		key := fmt.Sprintf("k%d", i)
		putImage(t, s, owner, key)
		trashImage(t, s, owner, key, t0.Add(time.Duration(i)*time.Hour))
	}
	// Due by t0+2h: k0, k1, k2, oldest first; a limit of 2 takes two.
	got, err := s.PurgeExpired(ctx, t0.Add(2*time.Hour), 2)
	if err != nil || len(got) != 2 || got[0].Key != "k0" || got[1].Key != "k1" {
		t.Fatalf("PurgeExpired(limit 2)=%v, %v, want k0, k1", got, err)
	}
	got, err = s.PurgeExpired(ctx, t0.Add(2*time.Hour), 0)
	if err != nil || len(got) != 1 || got[0].Key != "k2" {
		t.Fatalf("PurgeExpired()=%v, %v, want k2", got, err)
	}
	if got, err = s.PurgeExpired(ctx, t0.Add(2*time.Hour), 0); err != nil || len(got) != 0 {
		t.Fatalf("PurgeExpired(again)=%v, %v, want none", got, err)
	}
	if keys := trashKeys(t, s, ada.ID); !slices.Equal(keys, []string{"k3"}) {
		t.Fatalf("trash=%q, want [k3]", keys)
	}
}

func testTrashBlobKeys(t *testing.T, s pixpool.Store) {
	ada := createUser(t, s, "ada")
	live := putImage(t, s, ada.ID, "live")
	gone := newImage(ada.ID, "gone", 2)
	gone.OriginalKey = "orig/gone"
	if _, err := s.PutImage(t.Context(), gone); err != nil {
		t.Fatalf("PutImage()=%v", err)
	}
	trashImage(t, s, ada.ID, "gone", t0)
	want := []string{live.BlobKey, live.ThumbKey, gone.BlobKey, gone.ThumbKey, gone.OriginalKey}
	slices.Sort(want)
	if got := blobKeys(t, s); !slices.Equal(got, want) {
		t.Fatalf("ImageBlobKeys()=%q, want %q (the trash's too)", got, want)
	}
}

// dupImage returns an upload of the same bytes as newImage(owner, "x",
// 1) under key, with files of its own (fresh), as service.Images.Put
// makes it.
func dupImage(ownerID int64, key, fresh string) *pixpool.Image {
	img := newImage(ownerID, key, 1)
	img.BlobKey, img.ThumbKey, img.OriginalKey = "img/"+fresh, "thumb/"+fresh, "orig/"+fresh
	img.SourceChecksum, img.Size = "source-1", 5000 // same bytes, same size
	return img
}

func testDedupShare(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	first := dupImage(ada.ID, "first", "1")
	first.ThumbSize, first.OriginalSize = 77, 99
	if _, err := s.PutImage(ctx, first); err != nil {
		t.Fatalf("PutImage()=%v", err)
	}
	if first.BlobKey != "img/1" {
		t.Fatalf("first upload's BlobKey=%q, want its own", first.BlobKey)
	}

	// The same bytes again: the row takes the first's files.
	second := dupImage(ada.ID, "second", "2")
	if _, err := s.PutImage(ctx, second); err != nil {
		t.Fatalf("PutImage()=%v", err)
	}
	if second.BlobKey != "img/1" || second.ThumbKey != "thumb/1" || second.OriginalKey != "orig/1" ||
		second.ThumbSize != 77 || second.OriginalSize != 99 {
		t.Fatalf("duplicate=%+v, want the first's files and sizes", second)
	}
	if stored, _ := s.Image(ctx, ada.ID, "second"); stored == nil || stored.BlobKey != "img/1" {
		t.Fatalf("stored duplicate=%+v, want BlobKey img/1", stored)
	}

	// Another owner, another content type, no checksum: not shared.
	for _, img := range []*pixpool.Image{dupImage(bob.ID, "bobs", "3"), dupImage(ada.ID, "gif", "4"), dupImage(ada.ID, "old", "5")} {
		switch img.Key {
		case "gif":
			img.ContentType = "image/gif"
		case "old":
			img.SourceChecksum = ""
		}
		fresh := img.BlobKey
		if _, err := s.PutImage(ctx, img); err != nil {
			t.Fatalf("PutImage()=%v", err)
		}
		if img.BlobKey != fresh {
			t.Fatalf("%d/%q shares %q, want its own files", img.OwnerID, img.Key, img.BlobKey)
		}
	}

	// A trash entry's files are shared too.
	trashImage(t, s, ada.ID, "first", t0)
	trashImage(t, s, ada.ID, "second", t0)
	third := dupImage(ada.ID, "third", "6")
	if _, err := s.PutImage(ctx, third); err != nil {
		t.Fatalf("PutImage()=%v", err)
	}
	if third.BlobKey != "img/1" {
		t.Fatalf("upload matching a trash entry: BlobKey=%q, want img/1", third.BlobKey)
	}
}

func testDedupFilesShared(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	for i, k := range []string{"a", "b", "c"} {
		if _, err := s.PutImage(ctx, dupImage(ada.ID, k, fmt.Sprint(i))); err != nil {
			t.Fatalf("PutImage()=%v", err)
		}
	}
	// a, b and c share img/0. Re-uploading a's bytes under a shares with
	// itself: the replaced row's files stay.
	old, err := s.PutImage(ctx, dupImage(ada.ID, "a", "9"))
	if err != nil || old == nil || !old.FilesShared {
		t.Fatalf("PutImage(same bytes, same key) replaced %+v, %v; want FilesShared", old, err)
	}
	// Replaced by other bytes: b and c still share.
	other := newImage(ada.ID, "a", 2)
	if old, err = s.PutImage(ctx, other); err != nil || !old.FilesShared {
		t.Fatalf("PutImage(other bytes) replaced %+v, %v; want FilesShared", old, err)
	}
	got, err := s.DeleteImage(ctx, ada.ID, "b")
	if err != nil || !got.FilesShared {
		t.Fatalf("DeleteImage(b)=%+v, %v; want FilesShared (c)", got, err)
	}
	tr := trashImage(t, s, ada.ID, "c", t0)
	if tr.BlobKey != "img/0" {
		t.Fatalf("trashed c's BlobKey=%q, want img/0", tr.BlobKey)
	}
	// Put again, shares the trash entry's files; the purge keeps them.
	if _, err := s.PutImage(ctx, dupImage(ada.ID, "d", "8")); err != nil {
		t.Fatalf("PutImage()=%v", err)
	}
	purged, err := s.PurgeTrash(ctx, ada.ID, tr.ID)
	if err != nil || !purged.FilesShared {
		t.Fatalf("PurgeTrash()=%+v, %v; want FilesShared (d)", purged, err)
	}
	// The last row naming them: not shared.
	got, err = s.DeleteImage(ctx, ada.ID, "d")
	if err != nil || got.FilesShared || got.BlobKey != "img/0" {
		t.Fatalf("DeleteImage(d)=%+v, %v; want the last row of img/0, not shared", got, err)
	}
	if old, err = s.PutImage(ctx, newImage(ada.ID, "a", 3)); err != nil || old.FilesShared {
		t.Fatalf("PutImage() replaced %+v, %v; want its files not shared", old, err)
	}
}

// dedupRounds is how many times the races are run.
const dedupRounds = 40

// testDedupRaceDelete races an upload of the same bytes as an image
// against that image's delete: whatever the order, a delete that says its
// files are not shared must leave no row naming them.
func testDedupRaceDelete(t *testing.T, s pixpool.Store) {
	raceDedup(t, s, func(ownerID int64, key string) (*pixpool.Image, error) {
		return s.DeleteImage(t.Context(), ownerID, key)
	})
}

// testDedupRacePurge is testDedupRaceDelete with the image in the trash,
// purged.
func testDedupRacePurge(t *testing.T, s pixpool.Store) {
	raceDedup(t, s, func(ownerID int64, key string) (*pixpool.Image, error) {
		tr, err := s.TrashImage(t.Context(), ownerID, key, t0)
		if err != nil {
			return nil, err
		}
		purged, err := s.PurgeTrash(t.Context(), ownerID, tr.ID)
		if err != nil {
			return nil, err
		}
		return &purged.Image, nil
	})
}

// testDedupCrossReplace uploads, at once, a's bytes under b and b's under
// a: each upload locks the row it replaces and the row it shares with,
// crosswise (PostgreSQL may break the deadlock, and PutImage tries
// again). Both must succeed, and each replaced row's FilesShared must say
// whether a row still names its files.
func testDedupCrossReplace(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	named := func(blob string) bool {
		imgs, err := s.Images(ctx, pixpool.ImageFilter{OwnerID: ada.ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, img := range imgs {
			if img.BlobKey == blob {
				return true
			}
		}
		return false
	}
	for round := range dedupRounds {
		content := func(key, fresh, sum string) *pixpool.Image {
			img := dupImage(ada.ID, key, fmt.Sprintf("%s%d", fresh, round))
			img.SourceChecksum = fmt.Sprintf("%s-%d", sum, round)
			return img
		}
		for _, img := range []*pixpool.Image{content("a", "a", "x"), content("b", "b", "y")} {
			if _, err := s.PutImage(ctx, img); err != nil {
				t.Fatal(err)
			}
		}
		var (
			wg       sync.WaitGroup
			old      [2]*pixpool.Image
			errs     [2]error
			startSig = make(chan struct{})
		)
		for i, img := range []*pixpool.Image{content("a", "c", "y"), content("b", "d", "x")} {
			wg.Go(func() {
				<-startSig
				old[i], errs[i] = s.PutImage(ctx, img)
			})
		}
		close(startSig)
		wg.Wait()
		for i := range 2 {
			if errs[i] != nil {
				t.Fatalf("round %d: PutImage()=%v", round, errs[i])
			}
			if got, want := old[i].FilesShared, named(old[i].BlobKey); got != want {
				t.Fatalf("round %d: replaced %q: FilesShared=%v, but a row names its files: %v", round, old[i].Key, got, want)
			}
		}
	}
}

func raceDedup(t *testing.T, s pixpool.Store, remove func(ownerID int64, key string) (*pixpool.Image, error)) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	for round := range dedupRounds {
		orig := dupImage(ada.ID, fmt.Sprintf("orig%d", round), fmt.Sprintf("o%d", round))
		orig.SourceChecksum = fmt.Sprintf("source-%d", round)
		if _, err := s.PutImage(ctx, orig); err != nil {
			t.Fatalf("PutImage()=%v", err)
		}
		dup := dupImage(ada.ID, fmt.Sprintf("dup%d", round), fmt.Sprintf("d%d", round))
		dup.SourceChecksum = orig.SourceChecksum
		var (
			wg       sync.WaitGroup
			removed  *pixpool.Image
			rmErr    error
			putErr   error
			startSig = make(chan struct{})
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-startSig
			_, putErr = s.PutImage(ctx, dup)
		}()
		go func() {
			defer wg.Done()
			<-startSig
			removed, rmErr = remove(ada.ID, orig.Key)
		}()
		close(startSig)
		wg.Wait()
		if putErr != nil || rmErr != nil {
			t.Fatalf("round %d: PutImage()=%v, remove=%v", round, putErr, rmErr)
		}
		stored, err := s.Image(ctx, ada.ID, dup.Key)
		if err != nil {
			t.Fatalf("round %d: Image(dup)=%v", round, err)
		}
		if stored.BlobKey == orig.BlobKey && !removed.FilesShared {
			t.Fatalf("round %d: the duplicate shares %q, which its removal said no row needs: its bytes would be deleted", round, orig.BlobKey)
		}
		if stored.BlobKey != orig.BlobKey && removed.FilesShared {
			t.Fatalf("round %d: removal said %q is shared, but no row names it: its bytes would be left behind", round, orig.BlobKey)
		}
	}
}

// BenchPutImage measures PutImage inserting new keys into a store holding
// n images of one owner: without a source checksum (no deduplication
// lookup: the cost before deduplication), with a new checksum (the lookup
// finds nothing, the usual upload), and with a checksum an image has (the
// lookup finds it and the row shares its files).
func BenchPutImage(b *testing.B, s pixpool.Store, n int) {
	ctx := b.Context()
	u := newUser("bench")
	if err := s.CreateUser(ctx, u, "x"); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		img := newImage(u.ID, fmt.Sprintf("seed/%07d", i), 1)
		img.SourceChecksum = fmt.Sprintf("%064x", i)
		if _, err := s.PutImage(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name     string
		checksum func(i int) string
	}{
		{"NoChecksum", func(int) string { return "" }},
		{"Unique", func(i int) string { return fmt.Sprintf("new-%d", i) }},
		{"Duplicate", func(i int) string { return fmt.Sprintf("%064x", i%n) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				img := newImage(u.ID, fmt.Sprintf("%s/%07d", c.name, i), 1)
				img.Size = 1001 + int64(len("seed/0000000")) // a seed image's size, so duplicates match
				img.SourceChecksum = c.checksum(i)
				if _, err := s.PutImage(ctx, img); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
