package http

import "net/http"

// adminRoutes registers the admin portal's pages.
func (s *Server) adminRoutes(mux *http.ServeMux) {
}
