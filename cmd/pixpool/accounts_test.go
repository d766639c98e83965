package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
	"github.com/pixpool/pixpool/store/sqlite"
)

// TestServe_SetupLinkNotLogged: the setup link's token stays out of the
// log (issue 11, item 2: it was logged at WARN); serve prints it on the
// terminal instead. A new one replaces it at the next start.
func TestServe_SetupLinkNotLogged(t *testing.T) {
	var log bytes.Buffer
	data := t.TempDir()
	m := &Main{Config: Config{Data: data, Addr: "127.0.0.1:0", CacheSize: 0, Analyze: false}, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(m.SetupURL, m.URL()+"/setup?token=")
	if token == "" || token == m.SetupURL {
		t.Fatalf("SetupURL=%q", m.SetupURL)
	}
	m.Close()
	if strings.Contains(log.String(), token) {
		t.Fatalf("the log holds the setup token:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "setup link printed on the terminal") {
		t.Fatalf("the log does not say where the link is:\n%s", log.String())
	}

	m2 := &Main{Config: m.Config, Logger: slog.New(slog.DiscardHandler)}
	if err := m2.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m2.SetupURL == m.SetupURL || m2.SetupURL == "" {
		t.Fatalf("second start: SetupURL=%q, want a new link", m2.SetupURL)
	}
	if _, _, _, err := m2.Accounts.SetupAdmin(context.Background(), token, "adminpass1", "127.0.0.1"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("the first start's token after a restart: %v", err)
	}
}

// TestServe_SignupFlag: --signup sets the stored mode at start; without
// it the stored mode stays.
func TestServe_SignupFlag(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, Config{Data: data, Signup: "closed"})
	form := url.Values{"username": {"ada"}, "first_name": {"Ada"}, "last_name": {"L"}, "email": {"ada@example.org"},
		"birthday": {"1990-01-02"}, "phone": {"+1 555 010 0000"}, "password": {"password123"}, "password_confirm": {"password123"}}
	resp, err := http.PostForm(s.url+"/signup", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-up with --signup closed: status %d, want 403", resp.StatusCode)
	}
	if err := s.Accounts.SetSignupMode(context.Background(), pixpool.SignupInvite, "test"); err != nil {
		t.Fatal(err)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, Config{Data: data})
	if m, _ := s.Accounts.SignupMode(context.Background()); m != pixpool.SignupInvite {
		t.Fatalf("mode after a start without --signup: %q, want the stored invite", m)
	}
	s.stop()

	m := &Main{Config: Config{Data: data, Addr: "127.0.0.1:0", Signup: "sometimes"}, Logger: slog.New(slog.DiscardHandler)}
	err = m.Open(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "--signup") {
		t.Fatalf("--signup sometimes: %v", err)
	}
	st, err := sqlite.Open(filepath.Join(data, "pixpool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, _ := st.Setting(context.Background(), service.SignupSetting); v != pixpool.SignupInvite {
		t.Fatalf("stored mode %q after a refused --signup", v)
	}
}

func TestTrustedProxies(t *testing.T) {
	got, err := trustedProxies(true, " 203.0.113.0/24, 2001:db8::7 ,198.51.100.9/16")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
		"203.0.113.0/24", "2001:db8::7/128", "198.51.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("trustedProxies()=%v, want %v", got, want)
	}
	for i, p := range got {
		if p != netip.MustParsePrefix(want[i]) {
			t.Fatalf("trustedProxies()=%v, want %v", got, want)
		}
	}
	if got, err := trustedProxies(false, ""); err != nil || len(got) != 0 {
		t.Fatalf("no proxies: %v, %v", got, err)
	}
	if _, err := trustedProxies(false, "10.0.0.0/8,proxy.example"); err == nil || !strings.Contains(err.Error(), "proxy.example") {
		t.Fatalf("a host name: %v", err)
	}
}
