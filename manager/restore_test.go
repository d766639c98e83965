package manager

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
)

func TestManager_AfterRestore(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, openStore(t, t.TempDir()))
	p := autoscale.DefaultParams
	p.MaxNodes = 4
	b, err := json.Marshal(State{CapacityMB: 16, Policy: "rr", Mode: ModeManual, Auto: p})
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{pixpool.PoolStateSetting: string(b)}
	if err := m.AfterRestore(ctx, settings); err != nil {
		t.Fatal(err)
	}
	if st := m.State(); st.CapacityMB != 16 || st.Policy != "rr" || st.Mode != ModeManual || st.Auto != p || len(st.Nodes) != 2 {
		t.Fatalf("state after restore %+v", st)
	}
	err = m.AfterRestore(ctx, map[string]string{pixpool.PoolStateSetting: "{"})
	if err == nil || !strings.Contains(err.Error(), "The backup's cache pool configuration could not be read") {
		t.Fatalf("unreadable pool state: %v", err)
	}
}
