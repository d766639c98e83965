package http

import (
	"context"
	"reflect"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/pixpooltest"
)

func TestAdminAPI_Images(t *testing.T) {
	ctx := context.Background()
	f := newPoolFixture(t, fixtureConfig{pool: staticPool})
	put := func(u *pixpool.User, key string, seed uint8) {
		if _, err := f.env.Images.Put(ctx, u.ID, key, pixpooltest.PNG(t, 8, 8, seed)); err != nil {
			t.Fatal(err)
		}
	}
	put(f.alice, "b/one", 1)
	put(f.alice, "a/two", 2)
	put(f.admin, "b/three", 3)
	f.env.Images.Wait()
	// Read one through the cache, so it is there to be cleared.
	if _, _, err := f.env.Images.Get(ctx, f.alice.ID, "b/one"); err != nil {
		t.Fatal(err)
	}

	type list struct {
		Total, Offset, Limit int
		Images               []struct {
			Owner, Key  string
			ContentType string `json:"content_type"`
		}
	}
	var got list
	f.call("GET", "/api/v1/admin/images", "", 200, &got)
	if got.Total != 3 || len(got.Images) != 3 || got.Limit != 100 {
		t.Fatalf("all: %+v", got)
	}
	owners := map[string]string{}
	for _, img := range got.Images {
		owners[img.Key] = img.Owner
		if img.ContentType != "image/png" {
			t.Fatalf("image %+v", img)
		}
	}
	if want := map[string]string{"b/one": "alice", "a/two": "alice", "b/three": "admin"}; !reflect.DeepEqual(owners, want) {
		t.Fatalf("owners %v, want %v", owners, want)
	}
	f.call("GET", "/api/v1/admin/images?owner=alice", "", 200, &got)
	if got.Total != 2 || len(got.Images) != 2 || got.Images[0].Key != "a/two" || got.Images[1].Key != "b/one" {
		t.Fatalf("alice's: %+v", got)
	}
	f.call("GET", "/api/v1/admin/images?prefix=b/", "", 200, &got)
	if got.Total != 2 || len(got.Images) != 2 {
		t.Fatalf("prefix b/: %+v", got)
	}
	f.call("GET", "/api/v1/admin/images?owner=alice&prefix=b/", "", 200, &got)
	if got.Total != 1 || got.Images[0].Key != "b/one" || got.Images[0].Owner != "alice" {
		t.Fatalf("alice's b/: %+v", got)
	}
	f.call("GET", "/api/v1/admin/images?offset=2&limit=2", "", 200, &got)
	if got.Total != 3 || got.Offset != 2 || len(got.Images) != 1 {
		t.Fatalf("page 2: %+v", got)
	}
	b := f.call("GET", "/api/v1/admin/images?owner=nobody", "", 404, nil)
	wantAPIError(t, b, pixpool.ENOTFOUND)

	t.Run("DeleteAll", func(t *testing.T) {
		for _, q := range []string{"", "?confirm=yes", "?confirm=delete"} {
			b := f.call("DELETE", "/api/v1/admin/images"+q, "", 400, nil)
			wantAPIError(t, b, pixpool.EINVALID)
		}
		if n, _ := f.env.Store.CountImages(ctx, pixpool.ImageFilter{}); n != 3 {
			t.Fatalf("%d images left after refused deletes", n)
		}
		var del struct{ Deleted int }
		f.call("DELETE", "/api/v1/admin/images?confirm=DELETE", "", 200, &del)
		if del.Deleted != 3 {
			t.Fatalf("deleted %d", del.Deleted)
		}
		if n, _ := f.env.Store.CountImages(ctx, pixpool.ImageFilter{}); n != 0 {
			t.Fatalf("%d images left", n)
		}
		for _, ns := range f.mgr.Stats(ctx) {
			if ns.Items != 0 {
				t.Fatalf("node %s holds %d items", ns.ID, ns.Items)
			}
		}
		if _, _, err := f.env.Images.Get(ctx, f.alice.ID, "b/one"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("deleted image read: %v", err)
		}
		// Accounts stay.
		if status, _ := f.do("GET", "/api/v1/me", f.aliceKey, ""); status != 200 {
			t.Fatalf("alice's key: %d", status)
		}
	})
}
