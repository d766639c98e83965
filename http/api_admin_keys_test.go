package http

import (
	"context"
	"reflect"
	"strconv"
	"testing"

	"github.com/pixpool/pixpool"
)

func TestAdminAPI_NodeKeys(t *testing.T) {
	ctx := context.Background()
	f := newPoolFixture(t, fixtureConfig{pool: staticPool})
	m := f.mgr
	// Three keys on one node, then a read of the first: LRU order is
	// b, c, a.
	node := m.State().Nodes[0].ID
	var keys []string
	for i := 0; len(keys) < 3; i++ {
		if k := "key-" + strconv.Itoa(i); m.Pool.Owner(k) == node {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if err := m.Pool.Set(ctx, k, []byte("value of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Pool.Get(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Node                 string
		Total, Offset, Limit int
		Keys                 []struct {
			Key  string
			Size int64
		}
	}
	f.call("GET", "/api/v1/admin/nodes/"+node+"/keys", "", 200, &got)
	var order []string
	for _, k := range got.Keys {
		order = append(order, k.Key)
		if k.Size <= 0 {
			t.Fatalf("key %s of size %d", k.Key, k.Size)
		}
	}
	if want := []string{keys[1], keys[2], keys[0]}; got.Node != node || got.Total != 3 || !reflect.DeepEqual(order, want) {
		t.Fatalf("got %+v, want keys %v", got, want)
	}
	f.call("GET", "/api/v1/admin/nodes/"+node+"/keys?offset=1&limit=1", "", 200, &got)
	if got.Total != 3 || got.Offset != 1 || got.Limit != 1 || len(got.Keys) != 1 || got.Keys[0].Key != keys[2] {
		t.Fatalf("page %+v", got)
	}
	f.call("GET", "/api/v1/admin/nodes/"+node+"/keys?offset=10", "", 200, &got)
	if got.Total != 3 || len(got.Keys) != 0 {
		t.Fatalf("past the end %+v", got)
	}
	b := f.call("GET", "/api/v1/admin/nodes/no-such-node/keys", "", 404, nil)
	wantAPIError(t, b, pixpool.ENOTFOUND)
	for _, q := range []string{"offset=-1", "limit=0", "limit=1001", "limit=x"} {
		f.call("GET", "/api/v1/admin/nodes/"+node+"/keys?"+q, "", 400, nil)
	}
}
