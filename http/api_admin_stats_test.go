package http

import (
	"context"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/manager"
)

func TestAdminAPI_Stats(t *testing.T) {
	ctx := context.Background()
	f := newPoolFixture(t, fixtureConfig{pool: noPool})
	now := time.Now().UTC()
	cur := now.Truncate(time.Minute)
	samples := []pixpool.PoolSample{
		{At: cur.Add(-10 * time.Minute), Nodes: 9, Hits: 1, Misses: 1}, // outside 5 minutes
		{At: cur.Add(-2*time.Minute + time.Second), Nodes: 2, Items: 10, Bytes: 100, Gets: 40, Hits: 30, Misses: 10, Sets: 5},
		{At: cur.Add(-2*time.Minute + 6*time.Second), Nodes: 3, Items: 12, Bytes: 120, Gets: 60, Hits: 30, Misses: 30, Sets: 5},
	}
	for _, s := range samples {
		if err := f.env.Store.AddStats(ctx, s, nil); err != nil {
			t.Fatal(err)
		}
	}
	var got struct {
		Minutes int
		Buckets []manager.Bucket
	}
	f.call("GET", "/api/v1/admin/stats?minutes=5", "", 200, &got)
	if got.Minutes != 5 || len(got.Buckets) != 5 {
		t.Fatalf("got %+v", got)
	}
	b := got.Buckets[2] // the minute two before the current one
	if !b.Start.Equal(cur.Add(-2*time.Minute)) || b.Samples != 2 || b.Nodes != 3 || b.Items != 12 || b.Bytes != 120 ||
		b.Requests != 110 || b.MissRate != 40.0/100 || b.HitRate != 60.0/100 {
		t.Fatalf("bucket %+v", b)
	}
	for i, b := range got.Buckets {
		if i != 2 && b.Samples != 0 {
			t.Fatalf("bucket %d has %d samples", i, b.Samples)
		}
	}
	f.call("GET", "/api/v1/admin/stats", "", 200, &got)
	if got.Minutes != 30 || len(got.Buckets) != 30 {
		t.Fatalf("default: %d minutes, %d buckets", got.Minutes, len(got.Buckets))
	}
	for _, q := range []string{"0", "1441", "x", "1.5"} {
		b := f.call("GET", "/api/v1/admin/stats?minutes="+q, "", 400, nil)
		wantAPIError(t, b, pixpool.EINVALID)
	}
}
