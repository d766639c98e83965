package service

import (
	"context"
	"image"
	"runtime"
	"syscall"
	"testing"

	"github.com/pixpool/pixpool"
)

// TestAnalyzer_LowerPriority: recognizers run on a thread whose nice value
// is Nice above the process's.
func TestAnalyzer_LowerPriority(t *testing.T) {
	base, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan int, 1)
	f, a := analyzerFixture(t, func(ctx context.Context, img image.Image) ([]pixpool.Label, error) {
		// Getpriority returns 20-nice on Linux.
		p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
		if err != nil {
			t.Error(err)
		}
		seen <- p
		return nil, nil
	})
	a.Nice = 5
	f.put(t, "k")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	p := <-seen
	cancel()
	<-done
	if base-p != 5 {
		t.Fatalf("worker thread's nice is %d, want the process's (%d) + 5", 20-p, 20-base)
	}
	// The test's own thread is untouched.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if q, _ := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid()); q != base {
		t.Fatalf("another thread's nice changed to %d", 20-q)
	}
}
