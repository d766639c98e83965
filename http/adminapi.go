package http

import "net/http"

// adminAPIRoutes registers /api/v1/admin; api registers a route of
// /api/v1 (authenticated, recorded for the OpenAPI test).
func (s *Server) adminAPIRoutes(api func(pattern string, h http.HandlerFunc)) {
}
