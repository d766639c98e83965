package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/service"
)

// server is a `pixpool serve` running in the test on 127.0.0.1:0.
type server struct {
	*Main
	url  string
	stop func() error
}

func startServer(t *testing.T, c Config, opts ...func(*Main)) *server {
	t.Helper()
	if c.Data == "" {
		c.Data = t.TempDir()
	}
	c.Addr = "127.0.0.1:0"
	if c.MaxUpload == 0 {
		c.MaxUpload = 1 << 20
	}
	m := &Main{Config: c, Logger: slog.New(slog.NewTextHandler(testLogOut, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	m.Accounts.Password = pixpooltest.CheapPasswords
	for _, o := range opts {
		o(m)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return &server{Main: m, url: m.URL(), stop: stop}
}

// cli runs a pixpool command line against data and returns its stdout.
func cli(t *testing.T, data, stdin string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	at := 2 // after the command and subcommand: pixpool user create --data ...
	if args[0] == "pool" {
		at = 1 // pool's subcommands are arguments: pixpool pool --data ... status
	}
	args = append(args[:at:at], append([]string{"--data", data}, args[at:]...)...)
	if err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut); err != nil {
		t.Fatalf("pixpool %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// newUser creates an account with the command line and returns an API key.
func newUser(t *testing.T, s *server, name string, admin bool) string {
	t.Helper()
	args := []string{"user", "create"}
	if admin {
		args = append(args, "--admin")
	}
	cli(t, s.Config.Data, "password123\n", append(args, name)...)
	return strings.TrimSpace(cli(t, s.Config.Data, "", "apikey", "create", name))
}

type client struct {
	t    *testing.T
	base string
	key  string
}

func (c *client) do(method, path string, body io.Reader, hdr ...string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func expect(t *testing.T, resp *http.Response, status int) []byte {
	t.Helper()
	b := readAll(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, status, b)
	}
	return b
}

// apiError decodes an /api/v1 error body.
func apiError(t *testing.T, b []byte) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not an API error body: %s", b)
	}
	return e.Error.Code, e.Error.Message
}

func keyPath(key string) string { return "/api/v1/images/" + url.PathEscape(key) }

func TestServe_API(t *testing.T) {
	s := startServer(t, Config{})
	// Each subtest has an account of its own: none depends on what
	// another left behind.
	newClient := func(t *testing.T, name string) *client { return &client{t, s.url, newUser(t, s, name, false)} }
	red, blue := pixpooltest.PNG(t, 40, 30, 1), pixpooltest.PNG(t, 20, 20, 2)

	t.Run("PutGet", func(t *testing.T) {
		ada := newClient(t, "ada-putget")
		b := expect(t, ada.do("PUT", keyPath("cat"), bytes.NewReader(red)), http.StatusCreated)
		var img struct {
			Key           string
			ContentType   string `json:"content_type"`
			Width, Height int
			Size          int64
		}
		json.Unmarshal(b, &img)
		if img.Width != 40 || img.Height != 30 || img.Size != int64(len(red)) {
			t.Fatalf("metadata %s", b)
		}
		resp := ada.do("GET", keyPath("cat"), nil)
		got := expect(t, resp, http.StatusOK)
		if !bytes.Equal(got, red) || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("GET: %d bytes of %s", len(got), resp.Header.Get("Content-Type"))
		}
		etag, lastMod := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		if etag == "" || lastMod == "" {
			t.Fatalf("no validators: ETag %q Last-Modified %q", etag, lastMod)
		}
		expect(t, ada.do("GET", keyPath("cat"), nil, "If-None-Match", etag), http.StatusNotModified)
		expect(t, ada.do("GET", keyPath("cat"), nil, "If-Modified-Since", lastMod), http.StatusNotModified)
		expect(t, ada.do("GET", keyPath("Cat"), nil), http.StatusNotFound) // case-sensitive
	})

	t.Run("Replace", func(t *testing.T) {
		ada := newClient(t, "ada-replace")
		expect(t, ada.do("PUT", keyPath("cat"), bytes.NewReader(red)), http.StatusCreated)
		expect(t, ada.do("PUT", keyPath("cat"), bytes.NewReader(blue)), http.StatusCreated)
		if got := expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK); !bytes.Equal(got, blue) {
			t.Fatal("GET after replace returned the old bytes")
		}
	})

	t.Run("MultipartAndOddKeys", func(t *testing.T) {
		ada := newClient(t, "ada-multipart")
		for _, key := range []string{"holiday/2024 beach #1?.png", "猫", `quote"s & <tags>`, strings.Repeat("k", 250)} {
			body, ct := multipartBody(t, map[string]string{"key": key}, red)
			expect(t, ada.do("POST", "/api/v1/images", body, "Content-Type", ct), http.StatusCreated)
			if got := expect(t, ada.do("GET", keyPath(key), nil), http.StatusOK); !bytes.Equal(got, red) {
				t.Fatalf("key %q: wrong bytes", key)
			}
		}
	})

	t.Run("ListPaged", func(t *testing.T) {
		ada := newClient(t, "ada-list")
		for _, key := range []string{"cat", "holiday/2024 beach #1?.png", "猫", `quote"s & <tags>`, strings.Repeat("k", 250)} {
			expect(t, ada.do("PUT", keyPath(key), bytes.NewReader(red)), http.StatusCreated)
		}
		var keys []string
		after := ""
		for range 10 {
			b := expect(t, ada.do("GET", "/api/v1/images?limit=2&after="+url.QueryEscape(after), nil), http.StatusOK)
			var page struct {
				Images []struct{ Key string }
				Next   string
			}
			json.Unmarshal(b, &page)
			for _, img := range page.Images {
				keys = append(keys, img.Key)
			}
			if page.Next == "" {
				break
			}
			after = page.Next
		}
		if len(keys) != 5 || keys[0] != "cat" {
			t.Fatalf("listed %q, want 5 keys starting with cat", keys)
		}
		expect(t, ada.do("GET", "/api/v1/images?limit=0", nil), http.StatusBadRequest)
	})

	t.Run("Isolation", func(t *testing.T) {
		ada := newClient(t, "ada-isolation")
		expect(t, ada.do("PUT", keyPath("cat"), bytes.NewReader(blue)), http.StatusCreated)
		bob := &client{t, s.url, newUser(t, s, "bob", false)}
		b := expect(t, bob.do("GET", keyPath("cat"), nil), http.StatusNotFound)
		if _, msg := apiError(t, b); strings.Contains(msg, "bob") {
			t.Fatalf("message %q", msg)
		}
		expect(t, bob.do("DELETE", keyPath("cat"), nil), http.StatusNotFound)
		expect(t, bob.do("PUT", keyPath("cat"), bytes.NewReader(red)), http.StatusCreated)
		if got := expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK); !bytes.Equal(got, blue) {
			t.Fatal("bob's upload changed ada's image")
		}
		if got := expect(t, bob.do("GET", keyPath("cat"), nil), http.StatusOK); !bytes.Equal(got, red) {
			t.Fatal("bob reads the wrong bytes")
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		ada := newClient(t, "ada-badinput")
		for _, tt := range []struct {
			name   string
			key    string
			body   []byte
			status int
			code   string
		}{
			{"NotAnImage", "fake.jpg", []byte("this is not an image, only text named .jpg"), 415, "unsupported"},
			{"Truncated", "half", red[:len(red)/2], 400, "invalid"},
			{"Empty", "empty", nil, 400, "invalid"},
			{"TooLarge", "big", bytes.Repeat([]byte{0xff}, 1<<20+1), 413, "too_large"},
			{"EmptyKey", "", red, 400, "invalid"},
			{"LongKey", strings.Repeat("k", 251), red, 400, "invalid"},
			{"ControlKey", "a\nb", red, 400, "invalid"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				b := expect(t, ada.do("PUT", keyPath(tt.key), bytes.NewReader(tt.body)), tt.status)
				if code, _ := apiError(t, b); code != tt.code {
					t.Fatalf("code %q, want %q", code, tt.code)
				}
				if tt.key != "" && pixpoolValidKey(tt.key) {
					expect(t, ada.do("GET", keyPath(tt.key), nil), http.StatusNotFound)
				}
			})
		}
		body, ct := multipartBody(t, map[string]string{}, red)
		expect(t, ada.do("POST", "/api/v1/images", body, "Content-Type", ct), http.StatusBadRequest)
		body, ct = multipartBody(t, map[string]string{"key": "nofile"}, nil)
		expect(t, ada.do("POST", "/api/v1/images", body, "Content-Type", ct), http.StatusBadRequest)
		expect(t, ada.do("POST", "/api/v1/images", strings.NewReader("x"), "Content-Type", "text/plain"), http.StatusBadRequest)
	})

	t.Run("Auth", func(t *testing.T) {
		ada := newClient(t, "ada-auth")
		anon := &client{t, s.url, ""}
		expect(t, anon.do("GET", keyPath("cat"), nil), http.StatusUnauthorized)
		bad := &client{t, s.url, "pp_notakey"}
		expect(t, bad.do("GET", "/api/v1/me", nil), http.StatusUnauthorized)
		expect(t, ada.do("GET", "/api/v1/nope", nil), http.StatusNotFound)
	})

	t.Run("APIKeys", func(t *testing.T) {
		ada := newClient(t, "ada-apikeys")
		b := expect(t, ada.do("POST", "/api/v1/apikeys", strings.NewReader(`{"name":"laptop"}`)), http.StatusCreated)
		var k struct {
			ID     int64
			Secret string
		}
		json.Unmarshal(b, &k)
		second := &client{t, s.url, k.Secret}
		expect(t, second.do("GET", "/api/v1/me", nil), http.StatusOK)
		expect(t, ada.do("DELETE", fmt.Sprintf("/api/v1/apikeys/%d", k.ID), nil), http.StatusNoContent)
		expect(t, second.do("GET", "/api/v1/me", nil), http.StatusUnauthorized)
		if b := expect(t, ada.do("GET", "/api/v1/apikeys", nil), http.StatusOK); strings.Contains(string(b), "pp_") && strings.Contains(string(b), "secret") {
			t.Fatalf("listing shows secrets: %s", b)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		ada := newClient(t, "ada-delete")
		expect(t, ada.do("PUT", keyPath("cat"), bytes.NewReader(red)), http.StatusCreated)
		expect(t, ada.do("DELETE", keyPath("cat"), nil), http.StatusOK)
		expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusNotFound)
		expect(t, ada.do("DELETE", keyPath("cat"), nil), http.StatusNotFound)
	})

	t.Run("Health", func(t *testing.T) {
		anon := &client{t, s.url, ""}
		expect(t, anon.do("GET", "/healthz", nil), http.StatusOK)
		expect(t, anon.do("GET", "/readyz", nil), http.StatusOK)
	})
}

func pixpoolValidKey(k string) bool { return k != "" && len(k) <= 250 && !strings.ContainsAny(k, "\n") }

func multipartBody(t *testing.T, fields map[string]string, file []byte) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if file != nil {
		fw, _ := mw.CreateFormFile("file", "upload.png")
		fw.Write(file)
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

// TestServe_Compat runs the course tester's flow against serve with
// --compat-user naming an admin and --compat-admin: no credentials at all.
func TestServe_Compat(t *testing.T) {
	data := t.TempDir()
	cli(t, data, "password123\n", "user", "create", "--admin", "tester")
	s := startServer(t, Config{Data: data, CompatUser: "tester", CompatAdmin: true, CacheSize: 1, CacheCapacity: 8, CachePolicy: "lru"})
	other := &client{t, s.url, newUser(t, s, "ada", false)}
	anon := &client{t, s.url, ""}
	img := pixpooltest.PNG(t, 8, 8, 3)

	compat := func(method, path string, body io.Reader, status int, hdr ...string) map[string]any {
		t.Helper()
		b := expect(t, anon.do(method, path, body, hdr...), status)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %s", path, b)
		}
		return m
	}
	expect(t, anon.do("POST", "/api/delete_all", nil), http.StatusOK)
	for _, key := range []string{"k1", "k2", "k 3"} {
		body, ct := multipartBody(t, map[string]string{"key": key}, img)
		m := compat("POST", "/api/upload", body, 200, "Content-Type", ct)
		if m["success"] != "true" || m["key"] != key {
			t.Fatalf("upload: %v", m)
		}
	}
	body, ct := multipartBody(t, map[string]string{"key": "ada's"}, img)
	expect(t, other.do("POST", "/api/upload", body, "Content-Type", ct), http.StatusOK)
	m := compat("GET", "/api/list_keys", nil, 200)
	if fmt.Sprint(m["keys"]) != "[k 3 k1 k2]" || m["success"] != "true" {
		t.Fatalf("list_keys: %v", m)
	}
	m = compat("POST", "/api/key/"+url.PathEscape("k 3"), nil, 200)
	got, _ := base64.StdEncoding.DecodeString(fmt.Sprint(m["content"]))
	if !bytes.Equal(got, img) || m["key"] != "k 3" || m["success"] != "true" {
		t.Fatalf("key: %v", m["key"])
	}
	m = compat("GET", "/api/key/missing", nil, 404)
	if m["success"] != "false" || fmt.Sprint(m["error"].(map[string]any)["code"]) != "404" {
		t.Fatalf("missing key: %v", m)
	}
	for _, bad := range [][]byte{[]byte("GIF89a but not really"), []byte("plain text, not an image")} {
		body, ct := multipartBody(t, map[string]string{"key": "bad"}, bad)
		m = compat("POST", "/api/upload", body, 400, "Content-Type", ct)
		if m["success"] != "false" || fmt.Sprint(m["error"].(map[string]any)["code"]) != "400" {
			t.Fatalf("bad upload: %v", m)
		}
	}
	// The pool endpoints, with GET as the tester sends them.
	if m := compat("GET", "/api/getNumNodes", nil, 200); fmt.Sprint(m["numNodes"]) != "1" {
		t.Fatalf("getNumNodes: %v", m)
	}
	if m := compat("GET", "/api/configure_cache?mode=manual&numNodes=2", nil, 200); fmt.Sprint(m["numNodes"]) != "2" {
		t.Fatalf("configure_cache: %v", m)
	}
	compat("GET", "/api/key/k1", nil, 200)
	if m := compat("GET", "/api/getRate?rate=miss", nil, 200); m["rate"] != "miss" {
		t.Fatalf("getRate: %v", m)
	}
	if m := compat("POST", "/api/configure_cache?mode=manual&numNodes=1", nil, 200); fmt.Sprint(m["numNodes"]) != "1" {
		t.Fatalf("configure_cache: %v", m)
	}
	// delete_all acts as the admin: everyone's images go.
	if b := expect(t, anon.do("GET", "/api/delete_all", nil), 200); strings.TrimSpace(string(b)) != `{"success":"true"}` {
		t.Fatalf("delete_all body %s", b)
	}
	if m := compat("POST", "/api/list_keys", nil, 200); fmt.Sprint(m["keys"]) != "[]" {
		t.Fatalf("after delete_all: %v", m)
	}
	expect(t, other.do("GET", "/api/key/"+url.PathEscape("ada's"), nil), http.StatusNotFound)
	// /api/v1 never accepts anonymous calls, whatever the setting.
	expect(t, anon.do("GET", "/api/v1/images", nil), http.StatusUnauthorized)
}

// TestServe_CompatUser: without --compat-admin, credential-less calls have
// the named account's rights and no admin powers, even when it is an
// admin: delete_all deletes its own images, the pool endpoints refuse.
func TestServe_CompatUser(t *testing.T) {
	for _, admin := range []bool{false, true} {
		t.Run(fmt.Sprintf("Admin=%v", admin), func(t *testing.T) {
			s := startServer(t, Config{CompatUser: "tester", CacheSize: 1, CacheCapacity: 8, CachePolicy: "lru"})
			newUser(t, s, "tester", admin)
			other := &client{t, s.url, newUser(t, s, "ada", false)}
			anon := &client{t, s.url, ""}
			img := pixpooltest.PNG(t, 8, 8, 3)
			for _, c := range []*client{anon, other} {
				body, ct := multipartBody(t, map[string]string{"key": "k"}, img)
				expect(t, c.do("POST", "/api/upload", body, "Content-Type", ct), http.StatusOK)
			}
			for _, p := range []string{"/api/getNumNodes", "/api/getRate?rate=miss", "/api/configure_cache?mode=manual&numNodes=2"} {
				expect(t, anon.do("GET", p, nil), http.StatusForbidden)
			}
			if n := s.Manager.Size(); n != 1 {
				t.Fatalf("pool of %d nodes after anonymous configure_cache, want 1", n)
			}
			expect(t, anon.do("GET", "/api/delete_all", nil), http.StatusOK)
			expect(t, anon.do("GET", "/api/key/k", nil), http.StatusNotFound)
			expect(t, other.do("GET", "/api/key/k", nil), http.StatusOK)
		})
	}
}

// TestServe_Host: serve --host answers for its names, localhost and IP
// addresses, and refuses any other name (DNS rebinding); a bad --host is
// refused at start.
func TestServe_Host(t *testing.T) {
	s := startServer(t, Config{CompatUser: "tester", Hosts: "photos.example.com"})
	newUser(t, s, "tester", false)
	get := func(host string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", s.url+"/api/list_keys", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	port := s.url[strings.LastIndex(s.url, ":"):]
	for host, want := range map[string]int{
		"photos.example.com": 200, "localhost" + port: 200, "127.0.0.1" + port: 200,
		"attacker.example" + port: 403,
	} {
		if got := get(host); got != want {
			t.Errorf("list_keys for %s: %d, want %d", host, got, want)
		}
	}
	if _, err := hostNames("https://photos.example.com/"); err == nil {
		t.Error("--host took a URL")
	}
}

// TestServe_CompatChecks: serve refuses --compat-admin without
// --compat-user naming an enabled admin, and warns of what either opens.
func TestServe_CompatChecks(t *testing.T) {
	data := t.TempDir()
	cli(t, data, "password123\n", "user", "create", "--admin", "boss")
	cli(t, data, "password123\n", "user", "create", "alice")
	open := func(c Config) (string, error) {
		t.Helper()
		var logs bytes.Buffer
		c.Data, c.Addr, c.MaxUpload = data, "127.0.0.1:0", 1<<20
		m := &Main{Config: c, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		err := m.Open(context.Background())
		m.Close()
		return logs.String(), err
	}
	for _, c := range []struct {
		config Config
		want   string
	}{
		{Config{CompatAdmin: true}, "--compat-admin needs --compat-user"},
		{Config{CompatAdmin: true, CompatUser: "nobody"}, `the account "nobody" does not exist`},
		{Config{CompatAdmin: true, CompatUser: "alice"}, `the account "alice" is not an enabled admin`},
	} {
		if _, err := open(c.config); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%+v)=%v, want an error saying %q", c.config, err, c.want)
		}
	}
	for _, c := range []struct {
		config Config
		want   []string
	}{
		{Config{CompatAdmin: true, CompatUser: "boss"}, []string{"level=WARN", "COMPAT ADMIN MODE", "account=boss", "EVERY user's images"}},
		{Config{CompatUser: "alice"}, []string{"level=WARN", "COMPAT MODE", "account=alice", "without --compat-admin"}},
		{Config{CompatUser: "boss"}, []string{"level=WARN", "COMPAT MODE", "account=boss"}},
		{Config{CompatUser: "later"}, []string{"level=WARN", "names no account yet", "account=later"}},
	} {
		logs, err := open(c.config)
		if err != nil {
			t.Fatalf("Open(%+v)=%v", c.config, err)
		}
		for _, w := range c.want {
			if !strings.Contains(logs, w) {
				t.Errorf("Open(%+v) logged %s\nwant %q", c.config, logs, w)
			}
		}
	}
	if logs, err := open(Config{}); err != nil || strings.Contains(logs, "COMPAT") {
		t.Fatalf("Open() without compat flags: %v, logged %s", err, logs)
	}
}

func TestServe_CompatOffByDefault(t *testing.T) {
	s := startServer(t, Config{})
	anon := &client{t, s.url, ""}
	b := expect(t, anon.do("GET", "/api/list_keys", nil), http.StatusUnauthorized)
	if !strings.Contains(string(b), `"success":"false"`) || !strings.Contains(string(b), `"code":401`) {
		t.Fatalf("body %s", b)
	}
	key := newUser(t, s, "ada", false)
	withKey := &client{t, s.url, key}
	expect(t, withKey.do("GET", "/api/list_keys", nil), http.StatusOK)
}

func TestServe_AdminBootstrap(t *testing.T) {
	t.Run("SetupLink", func(t *testing.T) {
		s := startServer(t, Config{})
		if !strings.HasPrefix(s.SetupURL, s.url+"/setup?token=") {
			t.Fatalf("SetupURL=%q", s.SetupURL)
		}
		u, _ := url.Parse(s.SetupURL)
		token := u.Query().Get("token")
		if _, _, _, err := s.Accounts.SetupAdmin(context.Background(), "wrong", "adminpass1", "127.0.0.1"); err == nil {
			t.Fatal("wrong setup token accepted")
		}
		admin, _, _, err := s.Accounts.SetupAdmin(context.Background(), token, "adminpass1", "127.0.0.1")
		if err != nil || !admin.Admin {
			t.Fatalf("SetupAdmin: %v %+v", err, admin)
		}
		if _, _, _, err := s.Accounts.SetupAdmin(context.Background(), token, "adminpass2", "127.0.0.1"); err == nil {
			t.Fatal("setup token worked twice")
		}
		if _, _, _, err := s.Accounts.Login(context.Background(), "admin", "adminpass1", "127.0.0.1"); err != nil {
			t.Fatalf("admin login: %v", err)
		}
	})
	t.Run("Password", func(t *testing.T) {
		s := startServer(t, Config{AdminPassword: "from-the-env"})
		if s.SetupURL != "" {
			t.Fatalf("SetupURL=%q with an admin password given", s.SetupURL)
		}
		u, _, _, err := s.Accounts.Login(context.Background(), "admin", "from-the-env", "127.0.0.1")
		if err != nil || !u.Admin {
			t.Fatalf("admin login: %v", err)
		}
	})
}

func TestServe_RestartKeepsData(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, Config{Data: data})
	ada := &client{t, s.url, newUser(t, s, "ada", false)}
	img := pixpooltest.PNG(t, 5, 5, 4)
	expect(t, ada.do("PUT", keyPath("keep"), bytes.NewReader(img)), http.StatusCreated)
	if err := s.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	s2 := startServer(t, Config{Data: data})
	ada.base = s2.url
	if got := expect(t, ada.do("GET", keyPath("keep"), nil), http.StatusOK); !bytes.Equal(got, img) {
		t.Fatal("image lost across restart")
	}
	if s2.SetupURL != "" && s.SetupURL == "" {
		t.Fatal("setup state changed across restart")
	}
}

// TestServe_GracefulShutdown stops the server while an upload is half
// sent: the upload still completes.
func TestServe_GracefulShutdown(t *testing.T) {
	active := make(chan struct{}, 1)
	s := startServer(t, Config{}, func(m *Main) {
		m.connState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateActive {
				select {
				case active <- struct{}{}:
				default:
				}
			}
		}
	})
	key := newUser(t, s, "ada", false)
	img := pixpooltest.NoisyPNG(t, 256, 256) // large enough that half of it crosses the wire at once
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", s.url+keyPath("slow"), pr)
	req.ContentLength = int64(len(img))
	req.Header.Set("Authorization", "Bearer "+key)
	respc := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
		}
		respc <- resp
	}()
	pw.Write(img[:len(img)/2])
	<-active // the server is reading the request
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	time.Sleep(50 * time.Millisecond) // let Shutdown begin; the outcome does not depend on it
	pw.Write(img[len(img)/2:])
	pw.Close()
	resp := <-respc
	if resp == nil {
		t.FailNow()
	}
	expect(t, resp, http.StatusCreated)
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestParseFlags_Env(t *testing.T) {
	t.Setenv("PIXPOOL_MAX_UPLOAD", "5MiB")
	t.Setenv("PIXPOOL_COMPAT_USER", "tester")
	t.Setenv("PIXPOOL_COMPAT_ADMIN", "true")
	t.Setenv("PIXPOOL_ADDR", "127.0.0.1:9999")
	var c Config
	fs := newFlagSet()
	c.flags(fs)
	if err := parseFlags(fs, []string{"--addr", "127.0.0.1:1234"}); err != nil {
		t.Fatal(err)
	}
	if c.MaxUpload != 5<<20 || c.CompatUser != "tester" || !c.CompatAdmin || c.Addr != "127.0.0.1:1234" {
		t.Fatalf("config %+v", c)
	}
	t.Setenv("PIXPOOL_MAX_UPLOAD", "lots")
	fs = newFlagSet()
	c.flags(fs)
	if err := parseFlags(fs, nil); err == nil || !strings.Contains(err.Error(), "PIXPOOL_MAX_UPLOAD") {
		t.Fatalf("bad env value: %v", err)
	}
}

func TestCLI_Errors(t *testing.T) {
	data := t.TempDir()
	var out, errOut bytes.Buffer
	ctx := context.Background()
	os.Setenv("PIXPOOL_PASSWORD", "short")
	defer os.Unsetenv("PIXPOOL_PASSWORD")
	err := run(ctx, []string{"user", "create", "--data", data, "ada"}, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "Password must be at least") {
		t.Fatalf("short password: %v", err)
	}
	if err := run(ctx, []string{"frobnicate"}, nil, &out, &errOut); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run(ctx, []string{"apikey", "create", "--data", data, "nobody"}, nil, &out, &errOut); err == nil {
		t.Fatal("apikey for a missing user")
	}
	if _, err := os.Stat(filepath.Join(data, "pixpool.db")); err != nil {
		t.Fatal(err)
	}
}

var testLogOut io.Writer = io.Discard

// TestServe_Postgres runs serve on PostgreSQL (--db): accounts and images
// work as on SQLite, and the admin tools reach the same store.
func TestServe_Postgres(t *testing.T) {
	dsn, err := pixpooltest.PostgresDatabase(t, "ENCODING 'UTF8'")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Config{DB: dsn})
	var out, errOut bytes.Buffer
	t.Setenv("PIXPOOL_PASSWORD", "password123")
	if err := run(context.Background(), []string{"user", "create", "--db", dsn, "ada"}, nil, &out, &errOut); err != nil {
		t.Fatalf("user create: %v %s", err, errOut.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"apikey", "create", "--db", dsn, "ada"}, nil, &out, &errOut); err != nil {
		t.Fatalf("apikey create: %v %s", err, errOut.String())
	}
	ada := &client{t, s.url, strings.TrimSpace(out.String())}
	img := pixpooltest.PNG(t, 30, 20, 7)
	expect(t, ada.do("PUT", keyPath("on/postgres"), bytes.NewReader(img)), http.StatusCreated)
	if got := expect(t, ada.do("GET", keyPath("on/postgres"), nil), http.StatusOK); !bytes.Equal(got, img) {
		t.Fatal("wrong bytes back from a PostgreSQL-backed server")
	}
	if b := expect(t, ada.do("GET", "/api/v1/images", nil), http.StatusOK); !strings.Contains(string(b), `"on/postgres"`) {
		t.Fatalf("list: %s", b)
	}
	if _, err := os.Stat(filepath.Join(s.Config.Data, "pixpool.db")); err == nil {
		t.Fatal("a SQLite database was made beside PostgreSQL")
	}
}

// TestServe_PostgresS3 runs serve on PostgreSQL and an S3 server (versitygw)
// with the cache pool: uploads, reads (from the pool and the stores),
// replace and delete work, and no image bytes land in the data folder.
func TestServe_PostgresS3(t *testing.T) {
	dsn, err := pixpooltest.PostgresDatabase(t, "ENCODING 'UTF8'")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Config{DB: dsn, Blob: pixpooltest.S3Bucket(t), CacheSize: 1, CacheCapacity: 8, CachePolicy: "lru"})
	t.Setenv("PIXPOOL_PASSWORD", "password123")
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"user", "create", "--db", dsn, "ada"}, {"apikey", "create", "--db", dsn, "ada"}} {
		out.Reset()
		if err := run(context.Background(), args, nil, &out, &errOut); err != nil {
			t.Fatalf("%v: %v %s", args, err, errOut.String())
		}
	}
	ada := &client{t, s.url, strings.TrimSpace(out.String())}
	v1, v2 := pixpooltest.NoisyPNG(t, 200, 100), pixpooltest.PNG(t, 20, 10, 3)
	expect(t, ada.do("PUT", keyPath("s3/cat"), bytes.NewReader(v1)), http.StatusCreated)
	for range 2 { // a miss, then a hit
		if got := expect(t, ada.do("GET", keyPath("s3/cat"), nil), http.StatusOK); !bytes.Equal(got, v1) {
			t.Fatal("wrong bytes")
		}
	}
	s.Images.Cache.(interface{ Flush(context.Context) error }).Flush(context.Background())
	expect(t, ada.do("PUT", keyPath("s3/cat"), bytes.NewReader(v2)), http.StatusCreated)
	if got := expect(t, ada.do("GET", keyPath("s3/cat"), nil), http.StatusOK); !bytes.Equal(got, v2) {
		t.Fatal("replace not read back")
	}
	expect(t, ada.do("DELETE", keyPath("s3/cat"), nil), http.StatusOK)
	expect(t, ada.do("GET", keyPath("s3/cat"), nil), http.StatusNotFound)
	if _, err := os.Stat(filepath.Join(s.Config.Data, "blobs")); err == nil {
		t.Fatal("image bytes went to the data folder, not S3")
	}
}

// TestMigrate fills an embedded install (SQLite and a folder), migrates it
// to PostgreSQL and S3, serves from those, and compares: the same users
// (old passwords work), API keys, and images byte for byte. Running the
// migration again copies nothing and duplicates nothing.
func TestMigrate(t *testing.T) {
	dsn, err := pixpooltest.PostgresDatabase(t, "ENCODING 'UTF8'")
	if err != nil {
		t.Fatal(err)
	}
	bucket := pixpooltest.S3Bucket(t)
	data := t.TempDir()
	src := startServer(t, Config{Data: data, AdminPassword: "adminpass1"})
	adaKey := newUser(t, src, "ada", false)
	bobKey := newUser(t, src, "bob", false)
	want := map[string][]byte{}
	for i, key := range []string{"cat", "dir/dog", "日本", strings.Repeat("k", 250)} {
		for j, apiKey := range []string{adaKey, bobKey} {
			img := pixpooltest.PNG(t, 10+i, 10+j, uint8(i*2+j))
			c := &client{t, src.url, apiKey}
			expect(t, c.do("PUT", keyPath(key), bytes.NewReader(img)), http.StatusCreated)
			want[apiKey+"\x00"+key] = img
		}
	}
	src.Images.Wait()
	ada, err := src.Store.UserByUsername(context.Background(), "ada")
	if err != nil {
		t.Fatal(err)
	}
	quota := int64(300 << 20)
	if err := src.Store.SetUserQuota(context.Background(), ada.ID, &quota, nil); err != nil {
		t.Fatal(err)
	}
	share := &pixpool.Share{OwnerID: ada.ID, Kind: pixpool.ShareAlbum, Key: "dir/", Title: "Dogs", CreatedAt: time.Now().UTC(), MaxViews: 10, Views: 2}
	if err := src.Store.CreateShare(context.Background(), share); err != nil {
		t.Fatal(err)
	}
	if err := src.Store.SetSetting(context.Background(), service.ShareKeySetting, "the source's key"); err != nil {
		t.Fatal(err)
	}
	if err := src.stop(); err != nil {
		t.Fatal(err)
	}

	migrate := func() string {
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"migrate", "--from-data", data, "--to-db", dsn, "--to-blob", bucket}, nil, &out, &errOut)
		if err != nil {
			t.Fatalf("migrate: %v\n%s", err, errOut.String())
		}
		return out.String()
	}
	if out := migrate(); !strings.Contains(out, "3 users (3 new)") || !strings.Contains(out, "8 images (8 copied") || !strings.Contains(out, "1 share links (1 new)") {
		t.Fatalf("first migration: %s", out)
	}
	if out := migrate(); !strings.Contains(out, "(0 new)") || !strings.Contains(out, "8 images (0 copied") {
		t.Fatalf("second migration: %s", out)
	}

	dst := startServer(t, Config{DB: dsn, Blob: bucket})
	for k, img := range want {
		apiKey, key, _ := strings.Cut(k, "\x00")
		c := &client{t, dst.url, apiKey}
		if got := expect(t, c.do("GET", keyPath(key), nil), http.StatusOK); !bytes.Equal(got, img) {
			t.Fatalf("%q differs after migration", key)
		}
	}
	if _, _, _, err := dst.Accounts.Login(context.Background(), "admin", "adminpass1", "127.0.0.1"); err != nil {
		t.Fatalf("admin's old password after migration: %v", err)
	}
	if n, _ := dst.Store.CountImages(context.Background(), pixpool.ImageFilter{}); n != 8 {
		t.Fatalf("%d images in the target, want 8", n)
	}
	if u, err := dst.Store.UserByUsername(context.Background(), "ada"); err != nil || u.QuotaBytes == nil || *u.QuotaBytes != quota || u.QuotaImages != nil {
		t.Fatalf("ada's quotas after migration: %+v, %v; want %d bytes and the default images", u, err, quota)
	}
	dstAda := must(dst.Store.UserByUsername(context.Background(), "ada"))
	if shares, err := dst.Store.Shares(context.Background(), dstAda.ID); err != nil || len(shares) != 1 ||
		shares[0].Key != "dir/" || shares[0].Views != 2 || shares[0].MaxViews != 10 || shares[0].Title != "Dogs" {
		t.Fatalf("ada's shares after two migrations: %+v, %v; want the one, once", shares, err)
	}
	if v, err := dst.Store.Setting(context.Background(), service.ShareKeySetting); err == nil && v == "the source's key" {
		t.Fatal("the share links' key was copied: old links could open other shares, whose ids the target gave anew")
	}
	// The thumbnails' sizes, which quotas count, come along with the rows.
	srcUsage, dstUsage := usageOf(t, data, "ada"), must(dst.Store.Usage(context.Background(), must(dst.Store.UserByUsername(context.Background(), "ada")).ID))
	if srcUsage != dstUsage || srcUsage.Bytes == 0 {
		t.Fatalf("ada's usage: %+v in the source, %+v in the target", srcUsage, dstUsage)
	}
}

// usageOf reads a user's usage in the embedded install in data.
func usageOf(t *testing.T, data, username string) pixpool.Usage {
	t.Helper()
	st, err := openDB(context.Background(), data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	usage, err := st.Usage(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return usage
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestAnalyze checks a recognition setup the way a user would: labels of a
// real photo; an image that is not one is refused clearly.
func TestAnalyze(t *testing.T) {
	dir := recognitionDir(t)
	var out, errOut bytes.Buffer
	photo := filepath.Join(dir, "recognition", "testdata", "dog.jpg")
	if err := run(context.Background(), []string{"analyze", "--data", dir, photo}, nil, &out, &errOut); err != nil {
		t.Fatalf("analyze: %v %s", err, errOut.String())
	}
	for _, want := range []string{"image/jpeg, 768 x 576", "dog", "bicycle", "labels ("} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	notImage := filepath.Join(t.TempDir(), "x.jpg")
	os.WriteFile(notImage, []byte("not an image"), 0o644)
	err := run(context.Background(), []string{"analyze", "--data", dir, notImage}, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "not a JPEG, PNG, GIF or WebP") {
		t.Fatalf("analyze of a text file: %v", err)
	}
}
