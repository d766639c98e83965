package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLambdaRound_NoTimeLeftSkipsSweepAndBackup: a round whose
// invocation ends within roundMargin starts neither the sweep (which
// lists the whole bucket) nor the backup, says why, and leaves the sweep
// due for the next round, rather than running into the deadline.
func TestLambdaRound_NoTimeLeftSkipsSweepAndBackup(t *testing.T) {
	m := &Main{Config: Config{Data: t.TempDir(), Addr: "127.0.0.1:0", MaxUpload: 1 << 20, AdminPassword: "adminpass1", SessionTTL: time.Hour},
		Logger: slog.New(slog.DiscardHandler)}
	f, err := openLambda(context.Background(), m)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), roundMargin/2)
	defer cancel()
	rep, err := f.maintain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Swept || rep.Backup != "" {
		t.Errorf("swept %v, backup %q with %v left; want neither", rep.Swept, rep.Backup, roundMargin/2)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "no time for the sweep") {
		t.Errorf("notes %q; want one saying there was no time for the sweep", rep.Notes)
	}
	if !f.sweepDue(context.Background()) {
		t.Error("the sweep is no longer due after a round that skipped it")
	}

	// With time, the round sweeps.
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if rep, err = f.maintain(ctx); err != nil || !rep.Swept || len(rep.Errors) > 0 {
		t.Fatalf("round with a minute left: swept %v, errors %q, err %v; want a clean sweep", rep.Swept, rep.Errors, err)
	}
}
