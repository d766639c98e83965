package sqlite

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pixpool/pixpool"
)

// Callers that come while a sync is under way share the next one: three
// callers, two fsyncs; and none returns before a sync that began after it
// was called has finished.
func TestWALSync_Group(t *testing.T) {
	w := newWALSync("unused")
	var fsyncs atomic.Int32
	release := make(chan struct{})
	w.fsync = func(string) error {
		fsyncs.Add(1)
		<-release
		return nil
	}
	calls := func() uint64 {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.calls
	}
	done := make(chan int, 3)
	go func() { w.sync(); done <- 0 }()
	for fsyncs.Load() < 1 {
		runtime.Gosched()
	}
	for i := 1; i <= 2; i++ {
		go func() { w.sync(); done <- i }()
	}
	for calls() < 3 {
		runtime.Gosched()
	}
	release <- struct{}{} // the first fsync ends; it began before 1 and 2 came
	if got := <-done; got != 0 {
		t.Fatalf("caller %d returned first, before a sync that began after its call", got)
	}
	for fsyncs.Load() < 2 {
		runtime.Gosched()
	}
	select {
	case i := <-done:
		t.Fatalf("caller %d returned while its sync was under way", i)
	default:
	}
	release <- struct{}{}
	<-done
	<-done
	if got := fsyncs.Load(); got != 2 {
		t.Fatalf("%d fsyncs for 3 callers, want 2", got)
	}
}

// Image writes sync the log before they return; a failed sync fails the
// write but leaves its row committed, and many concurrent writes share
// fsyncs.
func TestStore_ImageWritesSync(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	u := &pixpool.User{Username: "ada"}
	if err := s.CreateUser(ctx, u, "hash"); err != nil {
		t.Fatal(err)
	}
	var fsyncs atomic.Int32
	var fail atomic.Bool
	s.wal.fsync = func(p string) error {
		fsyncs.Add(1)
		if fail.Load() {
			return errors.New("sync failed")
		}
		return syncFile(p)
	}
	img := func(key string) *pixpool.Image {
		return &pixpool.Image{OwnerID: u.ID, Key: key, BlobKey: "img/ab/ab" + key + ".png", ContentType: "image/png", Size: 1, Width: 1, Height: 1, Checksum: "c"}
	}
	if _, err := s.PutImage(ctx, img("a")); err != nil {
		t.Fatal(err)
	}
	if got := fsyncs.Load(); got != 1 {
		t.Fatalf("PutImage: %d fsyncs, want 1", got)
	}
	if _, err := s.DeleteImage(ctx, u.ID, "a"); err != nil {
		t.Fatal(err)
	}
	if got := fsyncs.Load(); got != 2 {
		t.Fatalf("DeleteImage: %d fsyncs in all, want 2", got)
	}

	fail.Store(true)
	if _, err := s.PutImage(ctx, img("b")); err == nil {
		t.Fatal("PutImage succeeded though the sync failed")
	}
	if _, err := s.Image(ctx, u.ID, "b"); err != nil {
		t.Fatalf("the row of a put whose sync failed: %v, want it committed", err)
	}
	fail.Store(false)

	const n = 16
	fsyncs.Store(0)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := s.PutImage(ctx, img(string(rune('c'+i)))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := fsyncs.Load(); got < 1 || got > n {
		t.Fatalf("%d fsyncs for %d puts", got, n)
	}
	if c, err := s.CountImages(ctx, pixpool.ImageFilter{OwnerID: u.ID}); err != nil || c != n+1 {
		t.Fatalf("CountImages=%d, %v; want %d", c, err, n+1)
	}
}
