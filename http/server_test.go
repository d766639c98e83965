package http

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	srv := &Server{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, tt := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.1:5000", nil, "192.0.2.1"},
		{"192.0.2.1:5000", []string{"198.51.100.7"}, "192.0.2.1"}, // not from a proxy: ignored
		{"10.0.0.2:5000", nil, "10.0.0.2"},
		{"10.0.0.2:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.2:5000", []string{"203.0.113.66, 198.51.100.7"}, "198.51.100.7"}, // the left entry is the client's own
		{"10.0.0.2:5000", []string{"1.1.1.1, 2.2.2.2, 198.51.100.7, 10.0.0.9"}, "198.51.100.7"},
		{"10.0.0.2:5000", []string{"203.0.113.66", "198.51.100.7, 10.1.1.1"}, "198.51.100.7"}, // several lines
		{"10.0.0.2:5000", []string{"nonsense, 198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.2:5000", []string{"198.51.100.7, nonsense"}, "10.0.0.2"},
		{"10.0.0.2:5000", []string{"10.0.0.3, 10.0.0.4"}, "10.0.0.3"},
		{"10.0.0.2:5000", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"[::1]:5000", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := srv.clientIP(r); got != tt.want {
			t.Errorf("clientIP(%s, %q)=%q, want %q", tt.remote, tt.xff, got, tt.want)
		}
	}
}
