package http

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestOpenAPI_Complete(t *testing.T) {
	srv, ts := newTestServer(t)
	resp, err := http.Get(ts.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string
		Paths   map[string]map[string]json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	if len(srv.apiRoutes) < 10 {
		t.Fatalf("only %d API routes recorded", len(srv.apiRoutes))
	}
	wildcard := regexp.MustCompile(`\{(\w+)\.\.\.\}`)
	for _, route := range srv.apiRoutes {
		method, path, _ := strings.Cut(route, " ")
		path = wildcard.ReplaceAllString(strings.TrimPrefix(path, "/api/v1"), "{$1}")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is missing from openapi.json (as %s %s)", route, strings.ToLower(method), path)
		}
	}
}
