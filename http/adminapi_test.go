package http

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/backup"
	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/pool"
	"github.com/pixpool/pixpool/service"
)

// poolKind says which cache pool a test runs with (the portal's tests in
// admin_test.go use it too).
type poolKind int

const (
	noPool     poolKind = iota // serve --cache-size 0
	staticPool                 // two in-process cache nodes, fixed (--cache-nodes)
	localPool                  // node processes (this test binary, see TestMain), resizable
)

// startCacheNode runs an in-process cache node until t ends and returns
// its address.
func startCacheNode(t *testing.T) string {
	t.Helper()
	srv := &cache.Server{Store: cache.NewStore(cache.StoreConfig{Capacity: 8 << 20})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// fixtureConfig shapes a poolFixture.
type fixtureConfig struct {
	pool        poolKind
	compatUser  string   // Server.CompatUser
	compatAdmin bool     // Server.CompatAdmin
	adminName   string   // the admin's username; if empty, "admin"
	hosts       []string // Server.Hosts
}

// poolFixture is a Server over real stores and a real cache pool, on a
// loopback port, with an admin and an ordinary user and their API keys.
type poolFixture struct {
	t        *testing.T
	env      *pixpooltest.Env
	srv      *Server
	ts       *httptest.Server
	mgr      *manager.Manager // nil for noPool
	admin    *pixpool.User
	alice    *pixpool.User
	adminKey string
	aliceKey string
}

func newPoolFixture(t *testing.T, c fixtureConfig) *poolFixture {
	t.Helper()
	env := pixpooltest.New(t)
	f := &poolFixture{t: t, env: env}
	ctx := context.Background()
	switch c.pool {
	case staticPool, localPool:
		f.mgr = &manager.Manager{
			Store:  env.Store,
			Pool:   &pool.Client{Logger: env.Logger, ProbeEvery: 20 * time.Millisecond},
			Logger: env.Logger,
			Nodes:  1, CapacityMB: 8,
		}
		if c.pool == staticPool {
			f.mgr.Static = []string{startCacheNode(t), startCacheNode(t)}
		} else {
			f.mgr.Provider = &manager.LocalProvider{Logger: env.Logger}
		}
		if err := f.mgr.Open(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.mgr.Close(); f.mgr.Pool.Close() })
		env.Images.Cache = f.mgr.Pool
	}
	f.srv = &Server{Accounts: env.Accounts, Images: env.Images, Store: env.Store, Logger: env.Logger,
		Pool: f.mgr, CompatUser: c.compatUser, CompatAdmin: c.compatAdmin, Hosts: c.hosts,
		Backups: &backup.Service{Store: env.Store, Blobs: env.Blobs, TempDir: t.TempDir(), Logger: env.Logger}}
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.ts.Close)
	f.admin, f.adminKey = f.addUser(orDefault(c.adminName, service.AdminUsername), true)
	f.alice, f.aliceKey = f.addUser("alice", false)
	return f
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// addUser creates an account and returns it with an API key.
func (f *poolFixture) addUser(name string, admin bool) (*pixpool.User, string) {
	f.t.Helper()
	ctx := context.Background()
	u := &pixpool.User{Username: name, FirstName: "Test", LastName: "User", Email: name + "@example.org",
		Birthday: time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0000", Admin: admin}
	if err := f.env.Accounts.CreateUser(ctx, u, "correct horse"); err != nil {
		f.t.Fatal(err)
	}
	_, secret, err := f.env.Accounts.CreateAPIKey(ctx, u.ID, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	return u, secret
}

// do sends a request with key as bearer ("" for none) and a JSON body
// ("" for none), and returns the status and body. A "Host" in header is
// the request's Host.
func (f *poolFixture) do(method, path, key, body string, header ...string) (int, []byte) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if strings.HasPrefix(body, "\x1f\x8b") {
		req.Header.Set("Content-Type", "application/gzip") // a backup archive
	} else if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// call is do for an admin JSON call that must answer want; it decodes
// the answer into out (if not nil).
func (f *poolFixture) call(method, path, body string, want int, out any) []byte {
	f.t.Helper()
	status, b := f.do(method, path, f.adminKey, body)
	if status != want {
		f.t.Fatalf("%s %s %s: status %d, want %d: %s", method, path, body, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return b
}

// wantAPIError checks an /api/v1 error body's code.
func wantAPIError(t *testing.T, b []byte, code string) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("got %s, want an error with code %q", b, code)
	}
	return e.Error.Message
}

// wantJSON compares a JSON body with want as whole objects.
func wantJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("body %s, want %s", got, want)
	}
}

// adminAPICalls is one harmless call of every admin route, with what an
// admin gets on a fixed two-node pool.
func adminAPICalls(f *poolFixture) []struct {
	method, path, body string
	status             int
} {
	node := f.mgr.State().Nodes[0].ID
	bk, archive := takeBackup(f.t, f.srv.Backups)
	return []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/api/v1/admin/pool", "", 200},
		{"PUT", "/api/v1/admin/pool/size", `{"nodes":2}`, 200},
		{"PUT", "/api/v1/admin/pool/mode", `{"mode":"manual"}`, 200},
		{"PUT", "/api/v1/admin/cache", `{"policy":"lru"}`, 200},
		{"POST", "/api/v1/admin/cache/clear", "", 204},
		{"GET", "/api/v1/admin/stats", "", 200},
		{"GET", "/api/v1/admin/nodes/" + node + "/keys", "", 200},
		{"GET", "/api/v1/admin/images", "", 200},
		{"DELETE", "/api/v1/admin/images?confirm=DELETE", "", 200},
		{"GET", "/api/v1/admin/users", "", 200},
		{"PATCH", "/api/v1/admin/users/" + strconv.FormatInt(f.alice.ID, 10), `{}`, 200},
		{"GET", "/api/v1/admin/signup", "", 200},
		{"PUT", "/api/v1/admin/signup", `{"mode":"open"}`, 200},
		{"GET", "/api/v1/admin/invites", "", 200},
		{"POST", "/api/v1/admin/invites", `{"days":1}`, 201},
		{"DELETE", "/api/v1/admin/invites/" + strconv.FormatInt(invite(f), 10), "", 204},
		{"GET", "/api/v1/admin/backups", "", 200},
		{"POST", "/api/v1/admin/backups", "", 201},
		{"PUT", "/api/v1/admin/backups/config", `{"keep":3}`, 200},
		{"GET", "/api/v1/admin/backups/" + bk, "", 200},
		{"GET", "/api/v1/admin/backups/" + bk + "/archive", "", 200},
		{"POST", "/api/v1/admin/backups/" + bk + "/restore", "", 200},
		{"POST", "/api/v1/admin/backups/restore", archive, 200},
	}
}

func TestAdminAPI_Access(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: staticPool})
	calls := adminAPICalls(f)
	admin := 0
	for _, r := range f.srv.apiRoutes {
		if strings.Contains(r, "/api/v1/admin/") {
			admin++
		}
	}
	if admin != len(calls) {
		t.Fatalf("%d admin routes registered, %d tested", admin, len(calls))
	}
	for _, c := range calls {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			status, b := f.do(c.method, c.path, "", c.body)
			if status != http.StatusUnauthorized {
				t.Fatalf("anonymous: status %d: %s", status, b)
			}
			wantAPIError(t, b, pixpool.EUNAUTHORIZED)
			status, b = f.do(c.method, c.path, f.aliceKey, c.body)
			if status != http.StatusNotFound {
				t.Fatalf("non-admin: status %d: %s", status, b)
			}
			wantAPIError(t, b, pixpool.ENOTFOUND)
			status, b = f.do(c.method, c.path, "pp_forged", c.body)
			if status != http.StatusUnauthorized {
				t.Fatalf("bad key: status %d: %s", status, b)
			}
			f.call(c.method, c.path, c.body, c.status, nil)
		})
	}
}

func TestAdminAPI_PoolOff(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: noPool})
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/admin/pool", ""},
		{"PUT", "/api/v1/admin/pool/size", `{"nodes":2}`},
		{"PUT", "/api/v1/admin/pool/mode", `{"mode":"auto"}`},
		{"PUT", "/api/v1/admin/cache", `{"capacity_mb":4}`},
		{"POST", "/api/v1/admin/cache/clear", ""},
		{"GET", "/api/v1/admin/nodes/node-1/keys", ""},
	} {
		b := f.call(c.method, c.path, c.body, http.StatusServiceUnavailable, nil)
		wantJSON(t, b, `{"error":{"code":"unavailable","message":"The cache pool is off (--cache-size 0)."}}`)
	}
	// The rest works without a pool.
	f.call("GET", "/api/v1/admin/stats", "", 200, nil)
	f.call("GET", "/api/v1/admin/images", "", 200, nil)
	f.call("DELETE", "/api/v1/admin/images?confirm=DELETE", "", 200, nil)
	f.call("GET", "/api/v1/admin/users", "", 200, nil)
}

// poolJSON decodes GET /api/v1/admin/pool.
type poolJSON struct {
	Mode       string
	Auto       autoParamsJSON
	CapacityMB int `json:"capacity_mb"`
	Policy     string
	Size       int
	MaxSize    int `json:"max_size"`
	Resizable  bool
	Nodes      []struct {
		ID, Addr, Policy string
		Up               bool
		Items, Capacity  int64
		HitRate          float64 `json:"hit_rate"`
	}
	Resizes []struct {
		From, To int
		Reason   string
	}
}

func TestAdminAPI_Pool(t *testing.T) {
	ctx := context.Background()
	f := newPoolFixture(t, fixtureConfig{pool: localPool})
	m := f.mgr

	var p poolJSON
	f.call("GET", "/api/v1/admin/pool", "", 200, &p)
	if p.Mode != "manual" || p.Size != 1 || p.MaxSize != 8 || !p.Resizable || p.CapacityMB != 8 || p.Policy != "lru" ||
		len(p.Nodes) != 1 || !p.Nodes[0].Up || p.Nodes[0].Capacity != 8<<20 || len(p.Resizes) != 0 {
		t.Fatalf("pool %+v", p)
	}
	if want := toAutoParamsJSON(autoscale.DefaultParams); p.Auto != want {
		t.Fatalf("auto %+v, want %+v", p.Auto, want)
	}

	t.Run("Size", func(t *testing.T) {
		var rep struct{ From, To, Size int }
		f.call("PUT", "/api/v1/admin/pool/size", `{"nodes":3}`, 200, &rep)
		// The answer comes after the resize: the pool has its new size.
		if got := m.Size(); got != 3 || rep.From != 1 || rep.To != 3 || rep.Size != 3 {
			t.Fatalf("report %+v, Size()=%d", rep, got)
		}
		for _, ns := range m.Stats(ctx) {
			if !ns.Up {
				t.Fatalf("node %s down after the resize", ns.ID)
			}
		}
		for _, body := range []string{`{"nodes":0}`, `{"nodes":9}`, `{"nodes":-1}`, `{}`, `{"nodes":"two"}`, `{"size":2}`} {
			b := f.call("PUT", "/api/v1/admin/pool/size", body, 400, nil)
			wantAPIError(t, b, pixpool.EINVALID)
		}
		f.call("GET", "/api/v1/admin/pool", "", 200, &p)
		if p.Size != 3 || len(p.Nodes) != 3 || len(p.Resizes) != 1 || p.Resizes[0].From != 1 || p.Resizes[0].To != 3 || p.Resizes[0].Reason != "manual" {
			t.Fatalf("pool after resize %+v", p)
		}
	})

	t.Run("Mode", func(t *testing.T) {
		f.call("PUT", "/api/v1/admin/pool/mode", `{"mode":"auto","max_miss":0.7,"cooldown_seconds":5}`, 200, &p)
		on, got := m.Auto()
		want := autoscale.DefaultParams
		want.MaxMiss, want.Cooldown = 0.7, 5*time.Second
		if !on || got != want || p.Mode != "auto" || p.Auto != toAutoParamsJSON(want) {
			t.Fatalf("Auto()=%v %+v; answer %+v", on, got, p)
		}
		for _, body := range []string{
			`{"mode":"auto","min_miss":0.9}`, // not below max_miss 0.7
			`{"mode":"auto","expand":1}`,
			`{"mode":"auto","shrink":1}`,
			`{"mode":"auto","min_nodes":3,"max_nodes":2}`,
			`{"mode":"auto","max_nodes":9}`,
			`{"mode":"auto","cooldown_seconds":-1}`,
			`{"mode":"sideways"}`,
			`{"max_miss":0.8}`,
			`{"mode":"manual","colour":"red"}`,
		} {
			b := f.call("PUT", "/api/v1/admin/pool/mode", body, 400, nil)
			wantAPIError(t, b, pixpool.EINVALID)
			if on, got := m.Auto(); !on || got != want {
				t.Fatalf("%s changed the settings to %v %+v", body, on, got)
			}
		}
		f.call("PUT", "/api/v1/admin/pool/mode", `{"mode":"manual"}`, 200, &p)
		if on, got := m.Auto(); on || got != want || p.Mode != "manual" {
			t.Fatalf("after manual: Auto()=%v %+v", on, got)
		}
	})

	t.Run("Cache", func(t *testing.T) {
		var got struct {
			CapacityMB int `json:"capacity_mb"`
			Policy     string
		}
		f.call("PUT", "/api/v1/admin/cache", `{"capacity_mb":4,"policy":"RR"}`, 200, &got)
		if got.CapacityMB != 4 || got.Policy != "rr" {
			t.Fatalf("answer %+v", got)
		}
		for _, ns := range m.Stats(ctx) {
			if ns.Capacity != 4<<20 || ns.Policy != "rr" {
				t.Fatalf("node %s: %d bytes, %s", ns.ID, ns.Capacity, ns.Policy)
			}
		}
		f.call("PUT", "/api/v1/admin/cache", `{"policy":"lru"}`, 200, &got)
		if got.CapacityMB != 4 || got.Policy != "lru" {
			t.Fatalf("answer %+v", got)
		}
		for _, body := range []string{`{"capacity_mb":6,"policy":"fifo"}`, `{"capacity_mb":0}`, `{"capacity_mb":2000000}`, `{"policy":""}`, `{}`} {
			b := f.call("PUT", "/api/v1/admin/cache", body, 400, nil)
			wantAPIError(t, b, pixpool.EINVALID)
		}
		if st := m.State(); st.CapacityMB != 4 || st.Policy != "lru" {
			t.Fatalf("refused changes applied: %d MB, %s", st.CapacityMB, st.Policy)
		}
	})

	t.Run("Clear", func(t *testing.T) {
		for i := range 20 {
			if err := m.Pool.Set(ctx, "k"+strconv.Itoa(i), []byte("value")); err != nil {
				t.Fatal(err)
			}
		}
		f.call("POST", "/api/v1/admin/cache/clear", "", 204, nil)
		for _, ns := range m.Stats(ctx) {
			if ns.Items != 0 {
				t.Fatalf("node %s holds %d items after clearing", ns.ID, ns.Items)
			}
		}
		if _, err := m.Pool.Get(ctx, "k1"); err == nil {
			t.Fatal("a cleared key is still there")
		}
	})
}

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

func TestAdminAPI_Users(t *testing.T) {
	ctx := context.Background()
	f := newPoolFixture(t, fixtureConfig{pool: noPool})
	bob, bobKey := f.addUser("bob", false)
	aliceURL := "/api/v1/admin/users/" + strconv.FormatInt(f.alice.ID, 10)
	bobURL := "/api/v1/admin/users/" + strconv.FormatInt(bob.ID, 10)
	selfURL := "/api/v1/admin/users/" + strconv.FormatInt(f.admin.ID, 10)

	type user struct {
		ID              int64
		Username        string
		Admin, Disabled bool
	}
	var list struct {
		Users      []user
		NextOffset *int `json:"next_offset"`
	}
	f.call("GET", "/api/v1/admin/users", "", 200, &list)
	if len(list.Users) != 3 || list.NextOffset != nil || list.Users[0].Username != "admin" || !list.Users[0].Admin ||
		list.Users[1].Username != "alice" || list.Users[1].Admin {
		t.Fatalf("users %+v", list)
	}
	f.call("GET", "/api/v1/admin/users?limit=2", "", 200, &list)
	if len(list.Users) != 2 || list.NextOffset == nil || *list.NextOffset != 2 {
		t.Fatalf("page 1 %+v", list)
	}
	list.NextOffset = nil
	f.call("GET", "/api/v1/admin/users?offset=2&limit=2", "", 200, &list)
	if len(list.Users) != 1 || list.Users[0].Username != "bob" || list.NextOffset != nil {
		t.Fatalf("page 2 %+v", list)
	}

	t.Run("Promote", func(t *testing.T) {
		var u user
		f.call("PATCH", aliceURL, `{"admin":true}`, 200, &u)
		if !u.Admin || u.Username != "alice" {
			t.Fatalf("answer %+v", u)
		}
		// Alice is an admin now: the admin API answers her.
		if status, b := f.do("GET", "/api/v1/admin/users", f.aliceKey, ""); status != 200 {
			t.Fatalf("promoted alice: %d %s", status, b)
		}
		f.call("PATCH", aliceURL, `{"admin":false}`, 200, &u)
		if u.Admin {
			t.Fatalf("answer %+v", u)
		}
		if status, _ := f.do("GET", "/api/v1/admin/users", f.aliceKey, ""); status != 404 {
			t.Fatalf("demoted alice: %d", status)
		}
	})

	t.Run("Self", func(t *testing.T) {
		for _, body := range []string{`{"admin":false}`, `{"disabled":true}`, `{"admin":true,"disabled":true}`} {
			b := f.call("PATCH", selfURL, body, 400, nil)
			wantAPIError(t, b, pixpool.EINVALID)
		}
		if u, _ := f.env.Store.User(ctx, f.admin.ID); !u.Admin || u.Disabled {
			t.Fatalf("admin now %+v", u)
		}
	})

	t.Run("LastAdmin", func(t *testing.T) {
		// Through the API an admin always remains (nobody can demote
		// themselves); the rule still holds for any actor.
		_, err := f.srv.SetUserAdmin(ctx, f.alice, f.admin.ID, false)
		if pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Fatalf("demoting the last admin: %v", err)
		}
	})

	t.Run("Disable", func(t *testing.T) {
		_, _, token, err := f.env.Accounts.Login(ctx, "bob", "correct horse", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		cookie := SessionCookie + "=" + token
		if status, _ := f.do("GET", "/api/v1/me", "", "", "Cookie", cookie); status != 200 {
			t.Fatalf("bob's session before: %d", status)
		}
		var u user
		f.call("PATCH", bobURL, `{"disabled":true}`, 200, &u)
		if !u.Disabled || u.Admin {
			t.Fatalf("answer %+v", u)
		}
		if status, _ := f.do("GET", "/api/v1/me", bobKey, ""); status != 401 {
			t.Fatalf("disabled bob's API key: %d", status)
		}
		if status, _ := f.do("GET", "/api/v1/me", "", "", "Cookie", cookie); status != 401 {
			t.Fatalf("disabled bob's session: %d", status)
		}
		if _, err := f.env.Store.Session(ctx, service.HashToken(token)); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("bob's session still stored: %v", err)
		}
		f.call("PATCH", bobURL, `{"disabled":false}`, 200, &u)
		if status, _ := f.do("GET", "/api/v1/me", bobKey, ""); status != 200 || u.Disabled {
			t.Fatalf("enabled bob's API key: %d", status)
		}
	})

	for _, path := range []string{"/api/v1/admin/users/x", "/api/v1/admin/users/99999"} {
		b := f.call("PATCH", path, `{"admin":true}`, 404, nil)
		wantAPIError(t, b, pixpool.ENOTFOUND)
	}
	f.call("PATCH", bobURL, `{"admin":"yes"}`, 400, nil)
	f.call("PATCH", bobURL, `{"root":true}`, 400, nil)
	f.call("GET", "/api/v1/admin/users?limit=0", "", 400, nil)
}
