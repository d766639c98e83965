package text

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/image/font/gofont/goregular"
)

// busyUntil is a Pauser that is busy until released.
type busyUntil struct{ released chan struct{} }

func (b *busyUntil) Busy() bool {
	select {
	case <-b.released:
		return false
	default:
		return true
	}
}

func (b *busyUntil) Wait(ctx context.Context) error {
	select {
	case <-b.released:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestReader_Pause: while the Pauser is busy, Read does not start
// Tesseract, or stops it (state T); once released, it reads as usual.
func TestReader_Pause(t *testing.T) {
	requireTesseract(t)
	img := render(t, goregular.TTF, 30, sentences[:2], false, 0)
	pause := &busyUntil{released: make(chan struct{})}
	var pid atomic.Int64
	r := &Reader{Pause: pause, started: func(p *os.Process) { pid.Store(int64(p.Pid)) }}
	type result struct {
		lines []Line
		err   error
	}
	done := make(chan result, 1)
	go func() {
		lines, err := r.Read(context.Background(), img)
		done <- result{lines, err}
	}()
	time.Sleep(200 * time.Millisecond)
	if pid.Load() != 0 {
		t.Fatal("tesseract started while busy")
	}
	select {
	case res := <-done:
		t.Fatalf("Read returned while busy: %v", res.err)
	default:
	}

	close(pause.released)
	if res := <-done; res.err != nil || len(res.lines) == 0 {
		t.Fatalf("Read after release = %v, %v", res.lines, res.err)
	}

	// Busy once it runs: it is stopped until serving is quiet again.
	turn := &flipPauser{}
	var pid2 atomic.Int64
	r3 := &Reader{Pause: turn, started: func(p *os.Process) { pid2.Store(int64(p.Pid)); turn.busy.Store(true) }}
	go func() {
		lines, err := r3.Read(context.Background(), img)
		done <- result{lines, err}
	}()
	var state string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if p := pid2.Load(); p != 0 {
			if state = procState(int(p)); state == "T" {
				break
			}
		}
	}
	if state != "T" {
		t.Fatalf("tesseract's state while busy: %q, want T (stopped)", state)
	}
	turn.busy.Store(false)
	if res := <-done; res.err != nil || len(res.lines) == 0 {
		t.Fatalf("Read after continuing = %v, %v", res.lines, res.err)
	}
}

// flipPauser is busy while busy is set.
type flipPauser struct{ busy atomic.Bool }

func (f *flipPauser) Busy() bool { return f.busy.Load() }

func (f *flipPauser) Wait(ctx context.Context) error {
	for f.busy.Load() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// procState is the state letter of process pid ("R", "S", "T", ...).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// pid (comm) state ...: comm may hold spaces, so cut after the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}
