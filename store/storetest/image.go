package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// newImage returns an image of owner's under key, not yet stored. version
// tells the uploads of one key apart.
func newImage(ownerID int64, key string, version int) *pixpool.Image {
	return &pixpool.Image{
		OwnerID:     ownerID,
		Key:         key,
		BlobKey:     fmt.Sprintf("images/%d/%x/%d", ownerID, key, version),
		ThumbKey:    fmt.Sprintf("thumbs/%d/%x/%d", ownerID, key, version),
		Size:        int64(1000*version + len(key)),
		ContentType: "image/png",
		Width:       640 + version,
		Height:      480 + version,
		Checksum:    fmt.Sprintf("%064x", version),
		CreatedAt:   t0.Add(time.Duration(version) * time.Minute),
	}
}

// putImage stores a new image and fails t if it replaced one.
func putImage(t *testing.T, s pixpool.Store, ownerID int64, key string) *pixpool.Image {
	t.Helper()
	img := newImage(ownerID, key, 1)
	replaced, err := s.PutImage(t.Context(), img)
	if err != nil {
		t.Fatalf("PutImage(%q)=%v", key, err)
	}
	if replaced != nil {
		t.Fatalf("PutImage(%q) replaced %+v, want nil", key, replaced)
	}
	return img
}

func checkImage(t *testing.T, got, want *pixpool.Image) {
	t.Helper()
	if got == nil {
		t.Fatalf("image=nil, want %+v", want)
	}
	if got.ID != want.ID || got.OwnerID != want.OwnerID || got.Key != want.Key || got.BlobKey != want.BlobKey ||
		got.ThumbKey != want.ThumbKey || got.Size != want.Size || got.ContentType != want.ContentType ||
		got.Width != want.Width || got.Height != want.Height || got.Checksum != want.Checksum {
		t.Fatalf("image=%+v, want %+v", got, want)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
}

func imageKeys(images []*pixpool.Image) []string {
	var keys []string
	for _, img := range images {
		keys = append(keys, img.Key)
	}
	return keys
}

func listKeys(t *testing.T, s pixpool.Store, f pixpool.ImageFilter) []string {
	t.Helper()
	images, err := s.Images(t.Context(), f)
	if err != nil {
		t.Fatalf("Images(%+v)=%v", f, err)
	}
	return imageKeys(images)
}

func countImages(t *testing.T, s pixpool.Store, f pixpool.ImageFilter) int {
	t.Helper()
	n, err := s.CountImages(t.Context(), f)
	if err != nil {
		t.Fatalf("CountImages(%+v)=%v", f, err)
	}
	return n
}

func testPutImage(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	img := newImage(u.ID, "cats/tabby.png", 1)
	img.ThumbKey = ""
	replaced, err := s.PutImage(ctx, img)
	if err != nil {
		t.Fatalf("PutImage()=%v", err)
	}
	if replaced != nil {
		t.Fatalf("PutImage() replaced %+v, want nil", replaced)
	}
	if img.ID == 0 {
		t.Fatalf("ID=0, want it set")
	}
	got, err := s.Image(ctx, u.ID, img.Key)
	if err != nil {
		t.Fatalf("Image()=%v", err)
	}
	checkImage(t, got, img)

	other := putImage(t, s, u.ID, "cats/calico.png")
	if other.ID == img.ID {
		t.Fatalf("second image's ID=%d, same as the first's", other.ID)
	}
	if got, want := countImages(t, s, pixpool.ImageFilter{}), 2; got != want {
		t.Fatalf("CountImages()=%d, want %d", got, want)
	}
	_, err = s.Image(ctx, u.ID, "cats/missing.png")
	wantCode(t, "Image(missing)", err, pixpool.ENOTFOUND)
}

func testPutImageReplace(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	v1 := putImage(t, s, u.ID, "photo.jpg")
	prev := v1
	for version := 2; version <= 3; version++ {
		v := newImage(u.ID, "photo.jpg", version)
		v.ContentType = "image/webp"
		replaced, err := s.PutImage(ctx, v)
		if err != nil {
			t.Fatalf("PutImage(v%d)=%v", version, err)
		}
		checkImage(t, replaced, prev)
		if v.ID != v1.ID {
			t.Fatalf("ID=%d after a replace, want the first upload's %d", v.ID, v1.ID)
		}
		got, err := s.Image(ctx, u.ID, "photo.jpg")
		if err != nil {
			t.Fatalf("Image()=%v", err)
		}
		checkImage(t, got, v)
		prev = v
	}
	if got, want := countImages(t, s, pixpool.ImageFilter{}), 1; got != want {
		t.Fatalf("CountImages()=%d, want %d", got, want)
	}
	if got, want := len(listKeys(t, s, pixpool.ImageFilter{})), 1; got != want {
		t.Fatalf("len(Images())=%d, want %d", got, want)
	}
	keys := blobKeys(t, s)
	if want := []string{prev.BlobKey, prev.ThumbKey}; !slices.Equal(keys, want) {
		t.Fatalf("ImageBlobKeys()=%q, want %q", keys, want)
	}
}

func testPutImageOwners(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	a := putImage(t, s, ada.ID, "logo.png")
	b := putImage(t, s, bob.ID, "logo.png")
	if a.ID == b.ID {
		t.Fatalf("two owners' images share ID %d", a.ID)
	}

	a2 := newImage(ada.ID, "logo.png", 2)
	replaced, err := s.PutImage(ctx, a2)
	if err != nil {
		t.Fatalf("PutImage()=%v", err)
	}
	checkImage(t, replaced, a)
	got, err := s.Image(ctx, bob.ID, "logo.png")
	if err != nil {
		t.Fatalf("Image(bob)=%v", err)
	}
	checkImage(t, got, b)

	if _, err := s.DeleteImage(ctx, ada.ID, "logo.png"); err != nil {
		t.Fatalf("DeleteImage(ada)=%v", err)
	}
	got, err = s.Image(ctx, bob.ID, "logo.png")
	if err != nil {
		t.Fatalf("Image(bob) after ada's delete=%v", err)
	}
	checkImage(t, got, b)
}

func testPutImageConcurrent(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	const n = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards errs, fresh
		errs     []error
		fresh    int // shared puts that replaced nothing
		sharedID = make([]int64, n)
	)
	for i := range n {
		wg.Go(func() {
			own := newImage(u.ID, fmt.Sprintf("own-%02d", i), i)
			_, err1 := s.PutImage(ctx, own)
			shared := newImage(u.ID, "shared", i)
			replaced, err2 := s.PutImage(ctx, shared)
			_, err3 := s.Images(ctx, pixpool.ImageFilter{OwnerID: u.ID})
			sharedID[i] = shared.ID
			mu.Lock()
			defer mu.Unlock()
			for _, err := range []error{err1, err2, err3} {
				if err != nil {
					errs = append(errs, err)
				}
			}
			if err2 == nil && replaced == nil {
				fresh++
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent PutImage: %v", err)
	}
	if got, want := countImages(t, s, pixpool.ImageFilter{}), n+1; got != want {
		t.Fatalf("CountImages()=%d, want %d", got, want)
	}
	if fresh != 1 {
		t.Fatalf("%d puts of one key replaced nothing, want 1", fresh)
	}
	for i, id := range sharedID {
		if id != sharedID[0] {
			t.Fatalf("shared image ID=%d in put %d, want %d", id, i, sharedID[0])
		}
	}
}

func testImageKeyCase(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	upper := putImage(t, s, u.ID, "Cat")
	lower := putImage(t, s, u.ID, "cat")
	for _, want := range []*pixpool.Image{upper, lower} {
		got, err := s.Image(ctx, u.ID, want.Key)
		if err != nil {
			t.Fatalf("Image(%q)=%v", want.Key, err)
		}
		checkImage(t, got, want)
	}
	_, err := s.Image(ctx, u.ID, "CAT")
	wantCode(t, `Image("CAT")`, err, pixpool.ENOTFOUND)
	_, err = s.DeleteImage(ctx, u.ID, "CAT")
	wantCode(t, `DeleteImage("CAT")`, err, pixpool.ENOTFOUND)
	if got, want := countImages(t, s, pixpool.ImageFilter{}), 2; got != want {
		t.Fatalf("CountImages()=%d, want %d", got, want)
	}
}

// oddKeys are valid keys that a careless store could mangle.
var oddKeys = []string{
	"plain.png",
	"with space.jpg",
	"  leading and trailing  ",
	"it's.gif",
	`say "cheese".webp`,
	"100%.png",
	"%",
	"a_b.png",
	"_",
	`back\slash`,
	"semi;colon",
	"' OR 1=1 --",
	"dir/sub/file.png",
	"/leading/slash",
	"café.png",
	"cafe\u0301.png", // café with a combining accent: another key
	"日本語/猫.png",
	"emoji 🐈‍⬛.webp",
	"\U0010fffd",
	"[brackets]*?.png",
}

func testImageOddKeys(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ada")
	var want []*pixpool.Image
	for _, key := range oddKeys {
		if err := pixpool.ValidateKey(key); err != nil {
			t.Fatalf("ValidateKey(%q)=%v", key, err)
		}
		want = append(want, putImage(t, s, u.ID, key))
	}
	for _, w := range want {
		got, err := s.Image(ctx, u.ID, w.Key)
		if err != nil {
			t.Fatalf("Image(%q)=%v", w.Key, err)
		}
		checkImage(t, got, w)
	}
	if got, want := countImages(t, s, pixpool.ImageFilter{}), len(oddKeys); got != want {
		t.Fatalf("CountImages()=%d, want %d", got, want)
	}
	for _, key := range oddKeys {
		got, err := s.DeleteImage(ctx, u.ID, key)
		if err != nil {
			t.Fatalf("DeleteImage(%q)=%v", key, err)
		}
		if got.Key != key {
			t.Fatalf("DeleteImage(%q).Key=%q", key, got.Key)
		}
	}
}

func testImagesOrder(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	keys := []string{"b", "a", "B", "a0", "a/b", "a b", "é", "e", "z", "日", "🐈", "Z", "_", "~", "a.png", "A.png"}
	var want []*pixpool.Image
	// Put in an order unlike the listing's: bob's first, keys unsorted.
	for _, owner := range []*pixpool.User{bob, ada} {
		for _, key := range keys {
			want = append(want, putImage(t, s, owner.ID, key))
		}
	}
	slices.SortFunc(want, func(a, b *pixpool.Image) int {
		return cmp.Or(cmp.Compare(a.OwnerID, b.OwnerID), cmp.Compare(a.Key, b.Key))
	})
	got, err := s.Images(ctx, pixpool.ImageFilter{})
	if err != nil {
		t.Fatalf("Images()=%v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("len(Images())=%d, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].OwnerID != want[i].OwnerID || got[i].Key != want[i].Key {
			t.Fatalf("Images()[%d]=(%d, %q), want (%d, %q)", i, got[i].OwnerID, got[i].Key, want[i].OwnerID, want[i].Key)
		}
		checkImage(t, got[i], want[i])
	}

	sorted := slices.Sorted(slices.Values(keys))
	for _, owner := range []*pixpool.User{ada, bob} {
		f := pixpool.ImageFilter{OwnerID: owner.ID}
		if got := listKeys(t, s, f); !slices.Equal(got, sorted) {
			t.Fatalf("Images(%+v)=%q, want %q", f, got, sorted)
		}
		if got, want := countImages(t, s, f), len(keys); got != want {
			t.Fatalf("CountImages(%+v)=%d, want %d", f, got, want)
		}
	}
	f := pixpool.ImageFilter{OwnerID: ada.ID + bob.ID + 1000}
	if got := listKeys(t, s, f); len(got) != 0 {
		t.Fatalf("Images(%+v)=%q, want none", f, got)
	}
}

func testImagesPrefix(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	keys := []string{
		"100%.png", "100x.png", "1000.png",
		"a_b", "ab", "abc", "axb", "Abc", "ABC",
		"é1", "é2", "éa", "e", "f",
		"x\U0010fffd", "x\U0010fffdy", "y",
	}
	for _, key := range keys {
		putImage(t, s, ada.ID, key)
	}
	putImage(t, s, bob.ID, "abc")
	putImage(t, s, bob.ID, "100%.png")

	tests := []struct {
		prefix string
		want   []string
	}{
		{"100%", []string{"100%.png"}},
		{"100", []string{"100%.png", "1000.png", "100x.png"}},
		{"%", nil},
		{"a_", []string{"a_b"}},
		{"_", nil},
		{"a", []string{"a_b", "ab", "abc", "axb"}},
		{"A", []string{"ABC", "Abc"}},
		{"ab", []string{"ab", "abc"}},
		{"abc", []string{"abc"}},
		{"abcd", nil},
		{"é", []string{"é1", "é2", "éa"}},
		{"e", []string{"e"}},
		{"x\U0010fffd", []string{"x\U0010fffd", "x\U0010fffdy"}},
		{"", slices.Sorted(slices.Values(keys))},
	}
	for _, tt := range tests {
		f := pixpool.ImageFilter{OwnerID: ada.ID, Prefix: tt.prefix}
		got := listKeys(t, s, f)
		if !slices.Equal(got, tt.want) {
			t.Fatalf("Images(%+v)=%q, want %q", f, got, tt.want)
		}
		if got, want := countImages(t, s, f), len(tt.want); got != want {
			t.Fatalf("CountImages(%+v)=%d, want %d", f, got, want)
		}
	}

	// Without an owner, the prefix applies to every owner's keys.
	f := pixpool.ImageFilter{Prefix: "100%"}
	images, err := s.Images(ctx, f)
	if err != nil {
		t.Fatalf("Images(%+v)=%v", f, err)
	}
	if got, want := len(images), 2; got != want {
		t.Fatalf("len(Images(%+v))=%d, want %d", f, got, want)
	}
	if images[0].OwnerID != ada.ID || images[1].OwnerID != bob.ID {
		t.Fatalf("Images(%+v) owners=%d, %d, want %d, %d", f, images[0].OwnerID, images[1].OwnerID, ada.ID, bob.ID)
	}
	if got, want := countImages(t, s, f), 2; got != want {
		t.Fatalf("CountImages(%+v)=%d, want %d", f, got, want)
	}
}

func testImagesPaging(t *testing.T, s pixpool.Store) {
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	var keys []string
	for i := 1; i <= 10; i++ {
		keys = append(keys, fmt.Sprintf("k%02d", i))
	}
	for _, key := range slices.Backward(keys) {
		putImage(t, s, ada.ID, key)
	}
	putImage(t, s, bob.ID, "k05")
	putImage(t, s, ada.ID, "other")

	tests := []struct {
		f     pixpool.ImageFilter
		want  []string
		count int
	}{
		{pixpool.ImageFilter{Prefix: "k", Limit: 3}, keys[:3], 10},
		{pixpool.ImageFilter{Prefix: "k", Limit: 3, Offset: 3}, keys[3:6], 10},
		{pixpool.ImageFilter{Prefix: "k", Offset: 8}, keys[8:], 10},
		{pixpool.ImageFilter{Prefix: "k", Offset: 10}, nil, 10},
		{pixpool.ImageFilter{Prefix: "k", After: "k03", Limit: 3}, keys[3:6], 10},
		{pixpool.ImageFilter{Prefix: "k", After: "k03", Limit: 3, Offset: 1}, keys[4:7], 10},
		{pixpool.ImageFilter{Prefix: "k", After: "k09"}, keys[9:], 10},
		{pixpool.ImageFilter{Prefix: "k", After: "k10"}, nil, 10},
		{pixpool.ImageFilter{Prefix: "k", After: "k0"}, keys, 10},
		{pixpool.ImageFilter{Prefix: "k0", After: "k05"}, keys[5:9], 9},
		{pixpool.ImageFilter{After: "k10"}, []string{"other"}, 11},
		{pixpool.ImageFilter{Limit: 2}, keys[:2], 11},
	}
	for _, tt := range tests {
		tt.f.OwnerID = ada.ID
		if got := listKeys(t, s, tt.f); !slices.Equal(got, tt.want) {
			t.Fatalf("Images(%+v)=%q, want %q", tt.f, got, tt.want)
		}
		if got := countImages(t, s, tt.f); got != tt.count {
			t.Fatalf("CountImages(%+v)=%d, want %d", tt.f, got, tt.count)
		}
	}

	// Paging by After walks every key once.
	var walked []string
	f := pixpool.ImageFilter{OwnerID: ada.ID, Limit: 4}
	for {
		page := listKeys(t, s, f)
		walked = append(walked, page...)
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1]
	}
	if want := append(slices.Clone(keys), "other"); !slices.Equal(walked, want) {
		t.Fatalf("walked %q, want %q", walked, want)
	}
}

func testDeleteImage(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	img := putImage(t, s, ada.ID, "gone.png")
	keep := putImage(t, s, ada.ID, "kept.png")
	bobs := putImage(t, s, bob.ID, "gone.png")

	_, err := s.DeleteImage(ctx, ada.ID+bob.ID+1000, "gone.png")
	wantCode(t, "DeleteImage(no such owner)", err, pixpool.ENOTFOUND)

	got, err := s.DeleteImage(ctx, ada.ID, "gone.png")
	if err != nil {
		t.Fatalf("DeleteImage()=%v", err)
	}
	checkImage(t, got, img)
	_, err = s.Image(ctx, ada.ID, "gone.png")
	wantCode(t, "Image(deleted)", err, pixpool.ENOTFOUND)
	_, err = s.DeleteImage(ctx, ada.ID, "gone.png")
	wantCode(t, "DeleteImage(deleted)", err, pixpool.ENOTFOUND)

	for _, want := range []*pixpool.Image{keep, bobs} {
		got, err := s.Image(ctx, want.OwnerID, want.Key)
		if err != nil {
			t.Fatalf("Image(%d, %q)=%v", want.OwnerID, want.Key, err)
		}
		checkImage(t, got, want)
	}

	// The key is free again; a new put replaces nothing.
	putImage(t, s, ada.ID, "gone.png")
}

func testDeleteAllImages(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	n, err := s.DeleteAllImages(ctx)
	if err != nil {
		t.Fatalf("DeleteAllImages()=%v", err)
	}
	if n != 0 {
		t.Fatalf("DeleteAllImages()=%d on an empty store, want 0", n)
	}
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	putImage(t, s, ada.ID, "a")
	putImage(t, s, ada.ID, "b")
	putImage(t, s, bob.ID, "a")

	for _, want := range []int{3, 0} {
		n, err := s.DeleteAllImages(ctx)
		if err != nil {
			t.Fatalf("DeleteAllImages()=%v", err)
		}
		if n != want {
			t.Fatalf("DeleteAllImages()=%d, want %d", n, want)
		}
	}
	if got, want := countImages(t, s, pixpool.ImageFilter{}), 0; got != want {
		t.Fatalf("CountImages()=%d, want %d", got, want)
	}
	if _, err := s.User(ctx, ada.ID); err != nil {
		t.Fatalf("User() after DeleteAllImages=%v", err)
	}
}

// blobKeys returns the keys ImageBlobKeys yields, sorted.
func blobKeys(t *testing.T, s pixpool.Store) []string {
	t.Helper()
	var keys []string
	err := s.ImageBlobKeys(t.Context(), func(key string) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		t.Fatalf("ImageBlobKeys()=%v", err)
	}
	slices.Sort(keys)
	return keys
}

func testImageBlobKeys(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	if got := blobKeys(t, s); len(got) != 0 {
		t.Fatalf("ImageBlobKeys()=%q on an empty store, want none", got)
	}
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	a := putImage(t, s, ada.ID, "with-thumb")
	b := newImage(ada.ID, "without-thumb", 1)
	b.ThumbKey = ""
	if _, err := s.PutImage(ctx, b); err != nil {
		t.Fatalf("PutImage()=%v", err)
	}
	c := putImage(t, s, bob.ID, "with-thumb")

	want := []string{a.BlobKey, a.ThumbKey, b.BlobKey, c.BlobKey, c.ThumbKey}
	slices.Sort(want)
	if got := blobKeys(t, s); !slices.Equal(got, want) {
		t.Fatalf("ImageBlobKeys()=%q, want %q", got, want)
	}

	// fn's error stops the walk and comes back.
	stop := errors.New("stop")
	calls := 0
	err := s.ImageBlobKeys(ctx, func(string) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("ImageBlobKeys()=%v, want fn's error", err)
	}
	if calls != 1 {
		t.Fatalf("fn called %d times after returning an error, want 1", calls)
	}
}

func testImagesNewest(t *testing.T, s pixpool.Store) {
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	for i, key := range []string{"m", "a", "z", "b"} {
		img := newImage(ada.ID, key, 1)
		img.CreatedAt = t0.Add(time.Duration(i) * time.Hour)
		if _, err := s.PutImage(t.Context(), img); err != nil {
			t.Fatal(err)
		}
	}
	putImage(t, s, bob.ID, "newest-of-bob")
	f := pixpool.ImageFilter{OwnerID: ada.ID, Newest: true, Limit: 3}
	if got, want := listKeys(t, s, f), []string{"b", "z", "a"}; !slices.Equal(got, want) {
		t.Fatalf("Images(%+v)=%q, want %q", f, got, want)
	}
	f = pixpool.ImageFilter{OwnerID: ada.ID, Newest: true, Prefix: "a"}
	if got, want := listKeys(t, s, f), []string{"a"}; !slices.Equal(got, want) {
		t.Fatalf("Images(%+v)=%q, want %q", f, got, want)
	}
}
