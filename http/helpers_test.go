package http

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/backup"
	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/pool"
	"github.com/pixpool/pixpool/service"
)

// The helpers every test file of package http shares: servers with a
// pool or without (newPortal, newPoolFixture, newTestServer,
// newAPIFixture), a cookie-keeping browser, API and compatibility calls,
// images, and the checks (want...) the tests make.

// TestMain lets a manager's local provider run this test binary as a cache
// node, so the admin tests can resize a real pool of child processes.
func TestMain(m *testing.M) {
	pixpooltest.RunCacheNodeIfAsked()
	os.Exit(m.Run())
}

// invite makes an invite for f's admin and returns its id.
func invite(f *poolFixture) int64 {
	inv, _, err := f.env.Accounts.CreateInvite(context.Background(), f.admin, time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	return inv.ID
}

const adminPassword = "correct horse battery"

// portal is a Server with a real cache pool and an admin logged in.
type portal struct {
	env   *pixpooltest.Env
	srv   *Server
	ts    *httptest.Server
	m     *manager.Manager // nil with noPool
	admin *browser         // logged in as boss, an admin
	boss  *pixpool.User
}

func newPortal(t *testing.T, kind poolKind) *portal {
	t.Helper()
	ctx := context.Background()
	env := pixpooltest.New(t)
	p := &portal{env: env}
	p.srv = &Server{Accounts: env.Accounts, Images: env.Images, Store: env.Store, Logger: env.Logger,
		Backups: &backup.Service{Store: env.Store, Blobs: env.Blobs, TempDir: t.TempDir(), Logger: env.Logger}}
	if kind != noPool {
		quiet := slog.New(slog.DiscardHandler)
		m := &manager.Manager{
			Store: env.Store, Pool: &pool.Client{Logger: quiet, ProbeEvery: 20 * time.Millisecond},
			Logger: quiet, Nodes: 2, CapacityMB: 8,
		}
		if kind == staticPool {
			m.Static = []string{startCacheNode(t), startCacheNode(t)}
		} else {
			m.Provider = &manager.LocalProvider{Logger: quiet}
		}
		if err := m.Open(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(); m.Pool.Close() })
		p.m, p.srv.Manager, env.Images.Cache = m, m, m.Pool
	}
	p.ts = httptest.NewServer(p.srv.Handler())
	t.Cleanup(p.ts.Close)

	p.boss = &pixpool.User{Username: "boss", FirstName: "Grace", LastName: "Hopper", Email: "boss@example.org",
		Birthday: time.Date(1980, 12, 9, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0001", Admin: true}
	if err := env.Accounts.CreateUser(ctx, p.boss, adminPassword); err != nil {
		t.Fatal(err)
	}
	p.admin = newBrowser(t, p.ts)
	if resp := p.admin.login("boss", adminPassword, "/admin"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin login: status %d", resp.StatusCode)
	}
	return p
}

// user signs up a normal user in a browser of their own.
func (p *portal) user(t *testing.T, name string) (*browser, *pixpool.User) {
	t.Helper()
	b := newBrowser(t, p.ts)
	b.signUp(name)
	u, err := p.env.Store.UserByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return b, u
}

// send posts a form with the browser's CSRF token.
func (b *browser) send(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf())
	return b.post(path, form)
}

func wantRedirect(t *testing.T, resp *http.Response, body, to string) {
	t.Helper()
	wantStatus(t, resp, body, http.StatusSeeOther)
	if got := resp.Header.Get("Location"); got != to {
		t.Fatalf("redirect to %q, want %q", got, to)
	}
}

func wantLacks(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(body, s) {
			t.Fatalf("page has %q:\n%s", s, body)
		}
	}
}

// poolKind says which cache pool a test runs with (the portal's and the
// admin API's).
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
		Manager: f.mgr, CompatUser: c.compatUser, CompatAdmin: c.compatAdmin, Hosts: c.hosts,
		Backups: &backup.Service{Store: env.Store, Blobs: env.Blobs, TempDir: t.TempDir(), Logger: env.Logger}}
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.ts.Close)
	f.admin, f.adminKey = f.addUser(cmp.Or(c.adminName, service.AdminUsername), true)
	f.alice, f.aliceKey = f.addUser("alice", false)
	return f
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

// apiFixture is a Server with one user and an API key, driven through its
// handler directly (no sockets), for fuzzing and benchmarks.
type apiFixture struct {
	srv     *Server
	handler http.Handler
	bearer  string
}

func newAPIFixture(tb testing.TB, maxBytes int64) *apiFixture {
	tb.Helper()
	env := pixpooltest.New(tb)
	env.Images.MaxBytes = maxBytes
	srv := &Server{Accounts: env.Accounts, Images: env.Images, Store: env.Store, Logger: env.Logger}
	ctx := context.Background()
	u := &pixpool.User{Username: "ada", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.org",
		Birthday: time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0000"}
	if err := srv.Accounts.CreateUser(ctx, u, "correct horse"); err != nil {
		tb.Fatal(err)
	}
	_, secret, err := srv.Accounts.CreateAPIKey(ctx, u.ID, "test")
	if err != nil {
		tb.Fatal(err)
	}
	return &apiFixture{srv: srv, handler: srv.Handler(), bearer: "Bearer " + secret}
}

func (f *apiFixture) serve(req *http.Request) *httptest.ResponseRecorder {
	req.Header.Set("Authorization", f.bearer)
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

// photo100KB is a JPEG of about 100 KB.
func photo100KB(tb testing.TB) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 400, 400))
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 75})
	if n := b.Len(); n < 80<<10 || n > 130<<10 {
		tb.Fatalf("test photo is %d bytes, want about 100 KB", n)
	}
	return b.Bytes()
}

// takeBackup takes a backup through svc and returns its name and archive.
func takeBackup(t *testing.T, svc *backup.Service) (name, archive string) {
	t.Helper()
	ctx := context.Background()
	info, err := svc.Create(ctx, backup.TriggerCLI, "")
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := svc.Open(ctx, info.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return info.Name, buf.String()
}

// wantCompatError checks a compatibility error: exactly
// {"success":"false","error":{"code":status,"message":"..."}} with that
// HTTP status.
func wantCompatError(t *testing.T, status int, b []byte, want int) {
	t.Helper()
	if status != want {
		t.Fatalf("status %d, want %d: %s", status, want, b)
	}
	var e map[string]any
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	inner, _ := e["error"].(map[string]any)
	msg, _ := inner["message"].(string)
	if len(e) != 2 || e["success"] != "false" || len(inner) != 2 || inner["code"] != float64(want) || msg == "" {
		t.Fatalf("not a compatibility error with code %d: %s", want, b)
	}
}

// poolSettings is what configure_cache may change.
type poolSettings struct {
	mode     string
	auto     autoscale.Params
	nodes    int
	capacity int
	policy   string
}

func settingsOf(m *manager.Manager) poolSettings {
	st := m.State()
	return poolSettings{st.Mode, st.Auto, len(st.Nodes), st.CapacityMB, st.Policy}
}

// compatUpload uploads an image under key with the compatibility API,
// with key as bearer ("" for none), and returns the status and body.
func (f *poolFixture) compatUpload(apiKey, key string, header ...string) (int, []byte) {
	f.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("key", key)
	fw, _ := mw.CreateFormFile("file", "i.png")
	fw.Write(testPNG(f.t, 8, 8, 1))
	mw.Close()
	return f.do("POST", "/api/upload", apiKey, b.String(), append([]string{"Content-Type", mw.FormDataContentType()}, header...)...)
}

// keysOf lists u's image keys.
func (f *poolFixture) keysOf(u *pixpool.User) []string {
	f.t.Helper()
	imgs, err := f.env.Images.List(context.Background(), u.ID, "", "", 100)
	if err != nil {
		f.t.Fatal(err)
	}
	var keys []string
	for _, img := range imgs {
		keys = append(keys, img.Key)
	}
	return keys
}

// seed gives the admin and alice an image each, through their API keys.
func (f *poolFixture) seed() {
	f.t.Helper()
	for _, c := range []struct{ apiKey, key string }{{f.adminKey, "admin.png"}, {f.aliceKey, "alice.png"}} {
		if status, b := f.compatUpload(c.apiKey, c.key); status != 200 {
			f.t.Fatalf("upload %s: %d %s", c.key, status, b)
		}
	}
}

// wantKeys fails unless admin's and alice's images are as given.
func (f *poolFixture) wantKeys(admin, alice []string) {
	f.t.Helper()
	if got := f.keysOf(f.admin); !slices.Equal(got, admin) {
		f.t.Fatalf("admin's images %q, want %q", got, admin)
	}
	if got := f.keysOf(f.alice); !slices.Equal(got, alice) {
		f.t.Fatalf("alice's images %q, want %q", got, alice)
	}
}

// newTestServer runs a Server on a fresh SQLite database and blob folder.
func newTestServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	env := pixpooltest.New(t)
	srv := &Server{Accounts: env.Accounts, Images: env.Images, Store: env.Store, Logger: env.Logger}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return srv, ts
}

// browser is one user agent with its own cookies. It does not follow
// redirects, so tests can check where they point.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, ts *httptest.Server) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: ts.URL, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// csrf returns the session's CSRF token, read from a page's forms.
func (b *browser) csrf() string {
	b.t.Helper()
	_, body := b.get("/profile")
	return valueOf(b.t, body, "csrf")
}

// upload posts the upload form as a browser without script does, with the
// token in the action URL; csrf "" leaves it out.
func (b *browser) upload(csrf, key string, data []byte, header ...string) (*http.Response, string) {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("key", key); err != nil {
		b.t.Fatal(err)
	}
	fw, err := mw.CreateFormFile("file", "photo.png")
	if err != nil {
		b.t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	path := "/upload"
	if csrf != "" {
		path += "?" + url.Values{"csrf": {csrf}}.Encode()
	}
	req, err := http.NewRequest("POST", b.base+path, &buf)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func signupForm(username string) url.Values {
	return url.Values{
		"username": {username}, "first_name": {"Ada"}, "last_name": {"Lovelace"},
		"email": {username + "@example.org"}, "birthday": {"1990-05-17"}, "phone": {"+44 20 7946 0000"},
		"password": {"correct horse battery"}, "password_confirm": {"correct horse battery"},
	}
}

// signUp creates an account and leaves the browser logged in to it.
func (b *browser) signUp(username string) {
	b.t.Helper()
	resp, body := b.post("/signup", signupForm(username))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		b.t.Fatalf("sign up %s: status %d, location %q:\n%s", username, resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func (b *browser) login(username, pw, next string) *http.Response {
	b.t.Helper()
	resp, _ := b.post("/login", url.Values{"username": {username}, "password": {pw}, "next": {next}})
	return resp
}

// testPNG makes a w×h PNG whose pixels depend on seed.
func testPNG(t *testing.T, w, h int, seed uint8) []byte { return pixpooltest.PNG(t, w, h, seed) }

func noisyPNG(t *testing.T, w, h int) []byte { return pixpooltest.NoisyPNG(t, w, h) }

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func wantStatus(t *testing.T, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d:\n%s", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, body)
	}
}

func wantContains(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Fatalf("page lacks %q:\n%s", s, body)
		}
	}
}

// keysLinked returns the keys of the links with a query to path (such as
// "/thumb") in a page's href and src attributes, in page order, as a
// browser reads them.
func keysLinked(t *testing.T, body, path string) []string {
	t.Helper()
	var keys []string
	for _, n := range elements(parseHTML(t, body), "") {
		for _, a := range n.Attr {
			if (a.Key != "href" && a.Key != "src") || !strings.HasPrefix(a.Val, "/") || !strings.Contains(a.Val, "?") {
				continue
			}
			u, err := url.Parse(a.Val)
			if err != nil {
				t.Fatalf("bad link %q: %v", a.Val, err)
			}
			if u.Path == path {
				keys = append(keys, u.Query().Get("key"))
			}
		}
	}
	return keys
}

// Pages are checked as a browser reads them: parsed by golang.org/x/net/html
// (the HTML5 parsing algorithm, entities decoded), rather than matched
// with regular expressions that depend on attribute order and escaping.

// parseHTML parses a page.
func parseHTML(t testing.TB, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse HTML: %v\n%s", err, body)
	}
	return doc
}

// elements returns the elements below n, in document order, named tag
// ("" for any) that have each of attrs: "name=value" for that value,
// "name" for any.
func elements(n *html.Node, tag string, attrs ...string) []*html.Node {
	var out []*html.Node
	for e := range n.Descendants() {
		if e.Type != html.ElementNode || (tag != "" && e.Data != tag) {
			continue
		}
		ok := true
		for _, want := range attrs {
			name, val, withVal := strings.Cut(want, "=")
			got, has := attrValue(e, name)
			if !has || (withVal && got != val) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}

// attrValue returns n's attribute name and whether n has it.
func attrValue(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

// textOf is the text inside n, entities decoded.
func textOf(n *html.Node) string {
	var sb strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			sb.WriteString(d.Data)
		}
	}
	return sb.String()
}

// valueOf returns the value of the page's first form field called name.
func valueOf(t testing.TB, body, name string) string {
	t.Helper()
	fields := elements(parseHTML(t, body), "input", "name="+name)
	if len(fields) == 0 {
		t.Fatalf("no %s field in the page:\n%s", name, body)
	}
	v, _ := attrValue(fields[0], "value")
	return v
}

// secretShown returns the text of the page's one-time secret (an API key
// or an invite code), or "".
func secretShown(t testing.TB, body string) string {
	t.Helper()
	if els := elements(parseHTML(t, body), "code", "class=secret-value"); len(els) > 0 {
		return textOf(els[0])
	}
	return ""
}
