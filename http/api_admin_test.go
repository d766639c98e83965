package http

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
)

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
		{"PUT", "/api/v1/admin/users/" + strconv.FormatInt(f.alice.ID, 10) + "/quota", `{}`, 200},
		{"GET", "/api/v1/admin/policy", "", 200},
		{"PUT", "/api/v1/admin/policy", `{"trash_days":30}`, 200},
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
