package service

import (
	"context"
	"testing"
	"time"
)

func TestActivity(t *testing.T) {
	ctx := context.Background()
	a := &Activity{Quiet: 30 * time.Millisecond, MaxWait: time.Hour}
	if a.Busy() {
		t.Fatal("busy before any request")
	}
	if err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	end := a.Begin()
	if !a.Busy() {
		t.Fatal("not busy while a request is served")
	}
	waited := make(chan struct{})
	go func() { a.Wait(ctx); close(waited) }()
	select {
	case <-waited:
		t.Fatal("Wait returned while a request was served")
	case <-time.After(50 * time.Millisecond):
	}
	end()
	if !a.Busy() {
		t.Fatal("not busy right after a request (Quiet has not passed)")
	}
	<-waited // once Quiet has passed
	if a.Busy() {
		t.Fatal("busy after Wait returned")
	}

	// Under a load that never lets up, work is slowed, not starved.
	a.MaxWait, a.Slice = 20*time.Millisecond, time.Hour
	defer a.Begin()()
	if err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Busy() {
		t.Fatal("busy during the slice granted after MaxWait")
	}

	// A canceled wait ends at once.
	b := &Activity{MaxWait: time.Hour}
	defer b.Begin()()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Wait(cctx); err != context.Canceled {
		t.Fatalf("Wait(canceled) = %v", err)
	}
}
