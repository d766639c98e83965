package http

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/pixpool/pixpool"
)

// adminAPIRoutes registers /api/v1/admin; api registers a route of
// /api/v1 (authenticated, recorded for the OpenAPI test). Every route is
// for admins only: others get 404, as if it did not exist. Pool and cache
// routes answer 503 when serve runs without a cache, backup routes
// (api_admin_backups.go) without a Backups service.
func (s *Server) adminAPIRoutes(api func(pattern string, h http.HandlerFunc)) {
	api("GET /api/v1/admin/pool", s.requireAPIAdmin(s.handleAPIAdminPool))
	api("PUT /api/v1/admin/pool/size", s.requireAPIAdmin(s.handleAPIAdminPoolSize))
	api("PUT /api/v1/admin/pool/mode", s.requireAPIAdmin(s.handleAPIAdminPoolMode))
	api("PUT /api/v1/admin/cache", s.requireAPIAdmin(s.handleAPIAdminCache))
	api("POST /api/v1/admin/cache/clear", s.requireAPIAdmin(s.handleAPIAdminCacheClear))
	api("GET /api/v1/admin/stats", s.requireAPIAdmin(s.handleAPIAdminStats))
	api("GET /api/v1/admin/nodes/{id}/keys", s.requireAPIAdmin(s.handleAPIAdminNodeKeys))
	api("GET /api/v1/admin/images", s.requireAPIAdmin(s.handleAPIAdminImages))
	api("DELETE /api/v1/admin/images", s.requireAPIAdmin(s.handleAPIAdminDeleteAll))
	api("GET /api/v1/admin/users", s.requireAPIAdmin(s.handleAPIAdminUsers))
	api("PATCH /api/v1/admin/users/{id}", s.requireAPIAdmin(s.handleAPIAdminUserPatch))
	api("PUT /api/v1/admin/users/{id}/quota", s.requireAPIAdmin(s.handleAPIAdminUserQuota))
	api("GET /api/v1/admin/policy", s.requireAPIAdmin(s.handleAPIAdminPolicy))
	api("PUT /api/v1/admin/policy", s.requireAPIAdmin(s.handleAPIAdminPolicyPut))
	api("GET /api/v1/admin/signup", s.requireAPIAdmin(s.handleAPIAdminSignup))
	api("PUT /api/v1/admin/signup", s.requireAPIAdmin(s.handleAPIAdminSignupPut))
	api("GET /api/v1/admin/invites", s.requireAPIAdmin(s.handleAPIAdminInvites))
	api("POST /api/v1/admin/invites", s.requireAPIAdmin(s.handleAPIAdminInviteCreate))
	api("DELETE /api/v1/admin/invites/{id}", s.requireAPIAdmin(s.handleAPIAdminInviteDelete))
	api("GET /api/v1/admin/backups", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackups)))
	api("POST /api/v1/admin/backups", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackupCreate)))
	api("PUT /api/v1/admin/backups/config", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackupConfig)))
	api("POST /api/v1/admin/backups/restore", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackupRestoreUpload)))
	api("GET /api/v1/admin/backups/{name}", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackup)))
	api("GET /api/v1/admin/backups/{name}/archive", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackupArchive)))
	api("POST /api/v1/admin/backups/{name}/restore", s.requireAPIAdmin(s.withBackups(s.handleAPIAdminBackupRestore)))
}

// pageParams reads ?offset=&limit= strictly: offset ≥ 0, limit 1..1000
// (default def).
func pageParams(q url.Values, def int) (offset, limit int, err error) {
	offset, limit = 0, def
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, pixpool.Errorf(pixpool.EINVALID, "offset must be a whole number, 0 or more.")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return 0, 0, pixpool.Errorf(pixpool.EINVALID, "limit must be a whole number from 1 to 1000.")
		}
	}
	return offset, limit, nil
}
