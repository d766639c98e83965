package manager

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
)

func TestManager_ApplyChange(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, openStore(t, t.TempDir()))
	bad := autoscale.DefaultParams
	bad.MinNodes = 0

	t.Run("Invalid", func(t *testing.T) {
		before := m.State()
		for _, tt := range []struct {
			c    Change
			want string
		}{
			{Change{Mode: "sideways"}, `The mode must be manual or auto, not "sideways".`},
			{Change{Nodes: -1}, "The pool size must be 1 to 8 nodes."},
			{Change{Nodes: 9}, "The pool size must be 1 to 8 nodes."},
			{Change{CapacityMB: -1}, "The capacity must be 1 to 1048576 MB."},
			{Change{CapacityMB: MaxCapacityMB + 1}, "The capacity must be 1 to 1048576 MB."},
			{Change{Policy: "fifo"}, `The policy must be LRU or RR, not "fifo".`},
			{Change{Mode: ModeAuto, Auto: &bad}, "The minimum pool size must be at least 1."},
			// Checked before anything changes: the valid parts are not applied.
			{Change{Policy: "rr", CapacityMB: 16, Nodes: 3, Mode: "sideways"}, `The mode must be manual or auto, not "sideways".`},
		} {
			rep, err := m.ApplyChange(ctx, tt.c)
			if pixpool.ErrorCode(err) != pixpool.EINVALID || pixpool.ErrorMessage(err) != tt.want || rep != nil {
				t.Errorf("ApplyChange(%+v) = %v, %v; want EINVALID %q", tt.c, rep, err, tt.want)
			}
		}
		if after := m.State(); !reflect.DeepEqual(after, before) {
			t.Fatalf("state changed by refused changes:\n%+v\nwas\n%+v", after, before)
		}
	})

	t.Run("All", func(t *testing.T) {
		p := autoscale.DefaultParams
		p.MaxNodes = 4
		rep, err := m.ApplyChange(ctx, Change{Mode: ModeAuto, Auto: &p, Nodes: 3, CapacityMB: 16, Policy: "RR", Reason: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if rep == nil || rep.From != 2 || rep.To != 3 {
			t.Fatalf("report %+v", rep)
		}
		st := m.State()
		if len(st.Nodes) != 3 || st.CapacityMB != 16 || st.Policy != "rr" || st.Mode != ModeAuto || st.Auto != p {
			t.Fatalf("state %+v", st)
		}
		if n := len(st.Resizes); n == 0 || st.Resizes[n-1].Reason != "test" {
			t.Fatalf("resizes %+v", st.Resizes)
		}
		// Zero fields change nothing; no size, no report.
		if rep, err := m.ApplyChange(ctx, Change{}); err != nil || rep != nil {
			t.Fatalf("empty change: %v, %v", rep, err)
		}
		if !reflect.DeepEqual(m.State(), st) {
			t.Fatal("an empty change changed the state")
		}
	})

	t.Run("NoPool", func(t *testing.T) {
		var none *Manager
		if _, err := none.ApplyChange(ctx, Change{Nodes: 2}); !errors.Is(err, ErrNoPool) {
			t.Fatalf("without a pool: %v", err)
		}
	})
}
