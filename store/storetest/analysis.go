package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// enqueue calls EnqueueAnalysis and fails t on an error.
func enqueue(t *testing.T, s pixpool.Store, imageID int64) {
	t.Helper()
	if err := s.EnqueueAnalysis(t.Context(), imageID); err != nil {
		t.Fatalf("EnqueueAnalysis(%d)=%v", imageID, err)
	}
}

// claim calls ClaimAnalysis and fails t unless it claims the image with id
// want (or, if want is 0, finds nothing), returning the attempts.
func claim(t *testing.T, s pixpool.Store, lease time.Duration, want int64) int {
	t.Helper()
	img, attempts, err := s.ClaimAnalysis(t.Context(), lease)
	if want == 0 {
		wantCode(t, "ClaimAnalysis()", err, pixpool.ENOTFOUND)
		return 0
	}
	if err != nil {
		t.Fatalf("ClaimAnalysis()=%v, want image %d", err, want)
	}
	if img.ID != want {
		t.Fatalf("ClaimAnalysis()=image %d (%q), want %d", img.ID, img.Key, want)
	}
	return attempts
}

// saveAnalysis calls SaveAnalysis and fails t on an error.
func saveAnalysis(t *testing.T, s pixpool.Store, a *pixpool.Analysis) {
	t.Helper()
	if err := s.SaveAnalysis(t.Context(), a); err != nil {
		t.Fatalf("SaveAnalysis(%d)=%v", a.ImageID, err)
	}
}

// analysis calls Analysis and fails t on an error.
func analysis(t *testing.T, s pixpool.Store, imageID int64) *pixpool.Analysis {
	t.Helper()
	a, err := s.Analysis(t.Context(), imageID)
	if err != nil {
		t.Fatalf("Analysis(%d)=%v", imageID, err)
	}
	return a
}

// saveDone stores a done analysis of img with the given labels and text.
func saveDone(t *testing.T, s pixpool.Store, img *pixpool.Image, labels []string, lines ...string) {
	t.Helper()
	a := &pixpool.Analysis{ImageID: img.ID, Checksum: img.Checksum, Status: pixpool.AnalysisDone}
	for i, name := range labels {
		a.Labels = append(a.Labels, pixpool.Label{Name: name, Confidence: 90, Box: pixpool.Box{X0: i, Y0: i, X1: i + 10, Y1: i + 10}})
	}
	for _, text := range lines {
		a.Lines = append(a.Lines, pixpool.TextLine{Text: text, Confidence: 80, Box: pixpool.Box{X1: 100, Y1: 20}})
	}
	saveAnalysis(t, s, a)
}

// search calls SearchImages and returns the keys found, failing t on an
// error.
func search(t *testing.T, s pixpool.Store, ownerID int64, query string, limit int) []string {
	t.Helper()
	images, err := s.SearchImages(t.Context(), ownerID, query, limit)
	if err != nil {
		t.Fatalf("SearchImages(%q)=%v", query, err)
	}
	return imageKeys(images)
}

// checkSearch fails t unless query finds want (in order).
func checkSearch(t *testing.T, s pixpool.Store, ownerID int64, query string, want ...string) {
	t.Helper()
	if got := search(t, s, ownerID, query, 0); !slices.Equal(got, want) {
		t.Fatalf("SearchImages(%q)=%q, want %q", query, got, want)
	}
}

// checkSearchSet fails t unless query finds want, in any order.
func checkSearchSet(t *testing.T, s pixpool.Store, ownerID int64, query string, want ...string) {
	t.Helper()
	got := search(t, s, ownerID, query, 0)
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("SearchImages(%q)=%q, want %q in any order", query, got, want)
	}
}

func testAnalysis(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	img := putImage(t, s, ada.ID, "street.png")

	_, err := s.Analysis(ctx, img.ID)
	wantCode(t, "Analysis(never queued)", err, pixpool.ENOTFOUND)
	wantCode(t, "EnqueueAnalysis(no such image)", s.EnqueueAnalysis(ctx, img.ID+1000), pixpool.ENOTFOUND)
	claim(t, s, time.Minute, 0)

	before := time.Now()
	enqueue(t, s, img.ID)
	a := analysis(t, s, img.ID)
	if a.ImageID != img.ID || a.Checksum != img.Checksum || a.Status != pixpool.AnalysisPending || a.Attempts != 0 ||
		a.Labels != nil || a.Lines != nil || a.Error != "" {
		t.Fatalf("Analysis(queued)=%+v, want pending with checksum %q and nothing else", a, img.Checksum)
	}
	checkBetween(t, "UpdatedAt", a.UpdatedAt, before, time.Now())

	claimed, attempts, err := s.ClaimAnalysis(ctx, time.Minute)
	if err != nil {
		t.Fatalf("ClaimAnalysis()=%v", err)
	}
	checkImage(t, claimed, img)
	if attempts != 1 {
		t.Fatalf("ClaimAnalysis() attempts=%d, want 1", attempts)
	}
	claim(t, s, time.Minute, 0) // leased

	want := &pixpool.Analysis{
		ImageID:  img.ID,
		Checksum: img.Checksum,
		Status:   pixpool.AnalysisDone,
		Labels: []pixpool.Label{
			{Name: "person", Confidence: 97.5, Box: pixpool.Box{X0: 10, Y0: 20, X1: 110, Y1: 320}},
			{Name: "bicycle", Confidence: 61.25, Box: pixpool.Box{X0: 0, Y0: 200, X1: 640, Y1: 480}},
		},
		Lines: []pixpool.TextLine{
			{Text: "Straße geschlossen — 工事中", Confidence: 88, Box: pixpool.Box{X0: 5, Y0: 5, X1: 300, Y1: 40}},
			{Text: `"quoted" & <tagged> 'text' \ 🚲`, Confidence: 42.5, Box: pixpool.Box{X0: 5, Y0: 50, X1: 300, Y1: 90}},
		},
		Attempts: 1,
	}
	before = time.Now()
	saveAnalysis(t, s, want)
	after := time.Now()
	checkBetween(t, "SaveAnalysis UpdatedAt", want.UpdatedAt, before, after)
	got := analysis(t, s, img.ID)
	checkBetween(t, "Analysis UpdatedAt", got.UpdatedAt, before, after)
	if got.ImageID != want.ImageID || got.Checksum != want.Checksum || got.Status != want.Status ||
		got.Error != "" || got.Attempts != 1 {
		t.Fatalf("Analysis()=%+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(got.Labels, want.Labels) {
		t.Fatalf("Labels=%+v, want %+v", got.Labels, want.Labels)
	}
	if !reflect.DeepEqual(got.Lines, want.Lines) {
		t.Fatalf("Lines=%+v, want %+v", got.Lines, want.Lines)
	}
	claim(t, s, time.Minute, 0) // done: no longer pending

	for _, status := range []string{"", pixpool.AnalysisPending, "DONE", "other"} {
		bad := *want
		bad.Status = status
		wantCode(t, "SaveAnalysis(status "+status+")", s.SaveAnalysis(ctx, &bad), pixpool.EINVALID)
	}
	missing := *want
	missing.ImageID = img.ID + 1000
	wantCode(t, "SaveAnalysis(no such image)", s.SaveAnalysis(ctx, &missing), pixpool.ENOTFOUND)
}

func testAnalysisFailed(t *testing.T, s pixpool.Store) {
	ada := createUser(t, s, "ada")
	img := putImage(t, s, ada.ID, "broken.png")
	enqueue(t, s, img.ID)
	for want := 1; want <= 3; want++ {
		if got := claim(t, s, time.Nanosecond, img.ID); got != want {
			t.Fatalf("ClaimAnalysis() attempts=%d, want %d", got, want)
		}
		time.Sleep(2 * time.Millisecond) // past the lease, at millisecond precision
	}
	saveAnalysis(t, s, &pixpool.Analysis{
		ImageID:  img.ID,
		Checksum: img.Checksum,
		Status:   pixpool.AnalysisFailed,
		Labels:   []pixpool.Label{{Name: "ghost", Confidence: 50}},
		Error:    "decode: unexpected EOF",
	})
	a := analysis(t, s, img.ID)
	if a.Status != pixpool.AnalysisFailed || a.Error != "decode: unexpected EOF" || a.Attempts != 3 {
		t.Fatalf("Analysis()=%+v, want failed with its error after 3 attempts", a)
	}
	claim(t, s, time.Minute, 0)
	checkSearch(t, s, ada.ID, "ghost") // only done analyses are searched
}

func testAnalysisClaimOrder(t *testing.T, s pixpool.Store) {
	ada := createUser(t, s, "ada")
	a := putImage(t, s, ada.ID, "a")
	b := putImage(t, s, ada.ID, "b")
	c := putImage(t, s, ada.ID, "c")
	// Queued against id order, a few milliseconds apart so that every
	// store tells the times apart.
	for _, img := range []*pixpool.Image{c, a, b} {
		enqueue(t, s, img.ID)
		time.Sleep(3 * time.Millisecond)
	}
	for _, img := range []*pixpool.Image{c, a, b} {
		claim(t, s, time.Minute, img.ID)
	}
	claim(t, s, time.Minute, 0)
}

func testAnalysisLease(t *testing.T, s pixpool.Store) {
	const lease = 50 * time.Millisecond
	ada := createUser(t, s, "ada")
	img := putImage(t, s, ada.ID, "slow.png")
	enqueue(t, s, img.ID)

	start := time.Now()
	if got := claim(t, s, lease, img.ID); got != 1 {
		t.Fatalf("ClaimAnalysis() attempts=%d, want 1", got)
	}
	claim(t, s, lease, 0)

	deadline := time.Now().Add(10 * time.Second)
	for {
		got, attempts, err := s.ClaimAnalysis(t.Context(), time.Minute)
		if err == nil {
			if elapsed := time.Since(start); elapsed < lease-2*time.Millisecond {
				t.Fatalf("claimed again after %v, before the lease of %v ran out", elapsed, lease)
			}
			if got.ID != img.ID || attempts != 2 {
				t.Fatalf("ClaimAnalysis()=image %d, %d attempts; want %d, 2", got.ID, attempts, img.ID)
			}
			break
		}
		wantCode(t, "ClaimAnalysis(leased)", err, pixpool.ENOTFOUND)
		if time.Now().After(deadline) {
			t.Fatalf("job not claimed again %v after a lease of %v", time.Since(start), lease)
		}
		time.Sleep(5 * time.Millisecond)
	}
	claim(t, s, lease, 0) // leased again, for a minute
}

func testAnalysisConcurrent(t *testing.T, s pixpool.Store) {
	const jobs, claimers = 5, 10
	ada := createUser(t, s, "ada")
	want := map[int64]bool{}
	for i := range jobs {
		img := putImage(t, s, ada.ID, string(rune('a'+i)))
		enqueue(t, s, img.ID)
		want[img.ID] = true
	}

	var (
		mu      sync.Mutex // guards claimed, errs
		claimed = map[int64]int{}
		errs    []error
		wg      sync.WaitGroup
	)
	for range claimers {
		wg.Go(func() {
			for {
				img, _, err := s.ClaimAnalysis(t.Context(), time.Minute)
				mu.Lock()
				if err == nil {
					claimed[img.ID]++
				} else if pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
					errs = append(errs, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("ClaimAnalysis()=%v", errs[0])
	}
	if len(claimed) != jobs {
		t.Fatalf("claimed %v, want each of %v once", claimed, want)
	}
	for id, n := range claimed {
		if !want[id] || n != 1 {
			t.Fatalf("claimed %v, want each of %v once", claimed, want)
		}
	}
}

func testAnalysisEnqueueResets(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	img := putImage(t, s, ada.ID, "cat.png")
	enqueue(t, s, img.ID)
	claim(t, s, time.Minute, img.ID)
	saveDone(t, s, img, []string{"cat"}, "meow")
	checkSearch(t, s, ada.ID, "cat", "cat.png")

	// New bytes under the key: queued again with their checksum, the old
	// results gone and no longer found.
	next := newImage(ada.ID, "cat.png", 2)
	if _, err := s.PutImage(ctx, next); err != nil {
		t.Fatalf("PutImage()=%v", err)
	}
	enqueue(t, s, img.ID)
	a := analysis(t, s, img.ID)
	if a.Status != pixpool.AnalysisPending || a.Attempts != 0 || a.Labels != nil || a.Lines != nil || a.Error != "" ||
		a.Checksum != next.Checksum {
		t.Fatalf("Analysis(queued again)=%+v, want pending with checksum %q and nothing else", a, next.Checksum)
	}
	checkSearch(t, s, ada.ID, "cat")
	checkSearch(t, s, ada.ID, "meow")

	// Even a job leased out is free again.
	if got := claim(t, s, time.Minute, img.ID); got != 1 {
		t.Fatalf("ClaimAnalysis() attempts=%d, want 1", got)
	}
	enqueue(t, s, img.ID)
	if got := claim(t, s, time.Minute, img.ID); got != 1 {
		t.Fatalf("ClaimAnalysis() after EnqueueAnalysis attempts=%d, want 1", got)
	}
}

func testSearchImages(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	done := func(owner *pixpool.User, key string, labels []string, lines ...string) {
		t.Helper()
		img := putImage(t, s, owner.ID, key)
		enqueue(t, s, img.ID)
		saveDone(t, s, img, labels, lines...)
	}
	done(ada, "dog.png", []string{"dog", "person"}, "Hello World", "Beware of the DOG")
	done(ada, "cat.png", []string{"cat"}, "Grüße aus Köln")
	done(ada, "both.png", []string{"dog", "cat"}, "to be or not to be")
	done(ada, "twin-b.png", []string{"zebra"})
	done(ada, "twin-a.png", []string{"zebra"})
	done(bob, "bobs-dog.png", []string{"dog"}, "hello")
	pending := putImage(t, s, ada.ID, "pending.png")
	enqueue(t, s, pending.ID)

	checkSearchSet(t, s, ada.ID, "dog", "dog.png", "both.png")
	checkSearch(t, s, ada.ID, "person", "dog.png")
	checkSearch(t, s, ada.ID, "hello", "dog.png")                  // a word of text
	checkSearch(t, s, ada.ID, "HELLO wOrLd", "dog.png")            // case-insensitive, every word
	checkSearch(t, s, ada.ID, "world hello", "dog.png")            // in any order
	checkSearch(t, s, ada.ID, "hello cat")                         // not every word
	checkSearch(t, s, ada.ID, "dog cat", "both.png")               // label with label
	checkSearch(t, s, ada.ID, "cat köln", "cat.png")               // label with text
	checkSearch(t, s, ada.ID, "Grüße", "cat.png")                  // unicode
	checkSearch(t, s, ada.ID, "do")                                // whole words only
	checkSearch(t, s, ada.ID, "zebra", "twin-a.png", "twin-b.png") // ties by key
	checkSearch(t, s, bob.ID, "dog", "bobs-dog.png")               // another owner's
	checkSearch(t, s, bob.ID, "cat")
	checkSearch(t, s, ada.ID+bob.ID+1000, "dog")
	if got := search(t, s, ada.ID, "dog", 1); len(got) != 1 {
		t.Fatalf("SearchImages(dog, limit 1)=%q, want 1 image", got)
	}

	// Nothing the user types is query syntax: words are matched literally,
	// and the rest is ignored.
	checkSearch(t, s, ada.ID, `dog OR "`, "both.png")
	checkSearch(t, s, ada.ID, `"hello"`, "dog.png")
	checkSearchSet(t, s, ada.ID, `dog*`, "both.png", "dog.png")
	for _, q := range []string{"", "   ", "*", `"`, `""`, "NEAR(", "^", "!!! ???", "AND", "\x00", "\xff"} {
		got, err := s.SearchImages(ctx, ada.ID, q, 0)
		if err != nil {
			t.Fatalf("SearchImages(%q)=%v", q, err)
		}
		if len(got) != 0 {
			t.Fatalf("SearchImages(%q)=%q, want none", q, imageKeys(got))
		}
	}
	checkSearchSet(t, s, ada.ID, "-dog", "dog.png", "both.png")
	checkSearch(t, s, ada.ID, "NOT dog", "both.png") // "or not to be"
	checkSearch(t, s, ada.ID, "dog:cat", "both.png")
	checkSearch(t, s, ada.ID, "NEAR(dog cat)")

	// A deleted image is never found, nor a new one that reuses its id.
	if _, err := s.DeleteImage(ctx, ada.ID, "twin-a.png"); err != nil {
		t.Fatalf("DeleteImage()=%v", err)
	}
	checkSearch(t, s, ada.ID, "zebra", "twin-b.png")
	if _, err := s.DeleteImage(ctx, bob.ID, "bobs-dog.png"); err != nil { // the newest: its id may be reused
		t.Fatalf("DeleteImage()=%v", err)
	}
	if _, err := s.DeleteImage(ctx, ada.ID, "pending.png"); err != nil {
		t.Fatalf("DeleteImage()=%v", err)
	}
	reused := putImage(t, s, bob.ID, "new.png")
	checkSearch(t, s, bob.ID, "dog")
	enqueue(t, s, reused.ID)
	saveDone(t, s, reused, []string{"fish"})
	checkSearch(t, s, bob.ID, "dog")
	checkSearch(t, s, bob.ID, "hello")
	checkSearch(t, s, bob.ID, "fish", "new.png")

	if _, err := s.DeleteAllImages(ctx); err != nil {
		t.Fatalf("DeleteAllImages()=%v", err)
	}
	checkSearch(t, s, ada.ID, "dog")
	checkSearch(t, s, bob.ID, "fish")
	again := putImage(t, s, ada.ID, "again.png")
	checkSearch(t, s, ada.ID, "dog")
	checkSearch(t, s, ada.ID, "zebra")
	if _, err := s.Analysis(ctx, again.ID); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("Analysis(new image)=%v, want ENOTFOUND", err)
	}
}

// testSearchImagesOwner: another user's matching images never come back,
// however many there are and however much better they match, nor do they
// crowd the owner's out of a limited result.
func testSearchImagesOwner(t *testing.T, s pixpool.Store) {
	ada := createUser(t, s, "ada")
	bob := createUser(t, s, "bob")
	for i := range 30 {
		img := putImage(t, s, bob.ID, fmt.Sprintf("bob-%02d.png", i))
		enqueue(t, s, img.ID)
		saveDone(t, s, img, []string{"dog", "dog", "dog"}, "dog dog dog", "Dog")
	}
	for _, key := range []string{"ada-1.png", "ada-2.png"} {
		img := putImage(t, s, ada.ID, key)
		enqueue(t, s, img.ID)
		saveDone(t, s, img, []string{"cat"}, "a dog somewhere in a long line of other words")
	}
	checkSearchSet(t, s, ada.ID, "dog", "ada-1.png", "ada-2.png")
	for _, limit := range []int{1, 2, 5} {
		got, err := s.SearchImages(t.Context(), ada.ID, "dog", limit)
		if err != nil {
			t.Fatalf("SearchImages(dog, %d)=%v", limit, err)
		}
		if len(got) != min(limit, 2) {
			t.Fatalf("SearchImages(dog, %d)=%q, want %d of ada's", limit, imageKeys(got), min(limit, 2))
		}
		for _, img := range got {
			if img.OwnerID != ada.ID {
				t.Fatalf("SearchImages(dog, %d) found %q of user %d, want only ada's", limit, img.Key, img.OwnerID)
			}
		}
	}
	checkSearch(t, s, ada.ID, "somewhere dog", "ada-1.png", "ada-2.png")
	if got := search(t, s, bob.ID, "somewhere", 0); len(got) != 0 {
		t.Fatalf("SearchImages(bob, somewhere)=%q, want none of ada's", got)
	}
}
