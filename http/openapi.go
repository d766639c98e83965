package http

import (
	_ "embed"
	"net/http"
)

// openAPI describes /api/v1. TestOpenAPI_Complete fails when a route is
// missing from it.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Write(openAPI)
}
