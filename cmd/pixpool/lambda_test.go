package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pixpool/pixpool/lambda"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/service"
	"github.com/pixpool/pixpool/store/postgres"
)

// lambdaEmulator finds aws-lambda-rie, which scripts/test-deps.sh
// installs; without it the test skips, except in CI.
func lambdaEmulator(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	out, _ := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	gobin, gopath, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	dirs := []string{strings.TrimSpace(gobin)}
	for _, dir := range filepath.SplitList(strings.TrimSpace(gopath)) {
		dirs = append(dirs, filepath.Join(dir, "bin"))
	}
	for _, dir := range dirs {
		if p := filepath.Join(dir, "aws-lambda-rie"); dir != "" && fileExists(p) {
			return p
		}
	}
	msg := "aws-lambda-rie is not installed: run scripts/test-deps.sh"
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// buildPixpool builds this command, as a function's bootstrap is built.
func buildPixpool(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// function is a pixpool binary running under aws-lambda-rie.
type function struct {
	t      testing.TB
	url    string            // the emulator's invocation URL
	jar    map[string]string // cookies, as a browser keeps them
	client *http.Client
	logs   *bytes.Buffer
}

// startFunction runs bin under the emulator with env added to this
// process's environment.
func startFunction(tb testing.TB, rie, bin string, env ...string) *function {
	tb.Helper()
	addr := freeAddr(tb)
	cmd := exec.Command(rie, "--runtime-api-address", freeAddr(tb), "--runtime-interface-emulator-address", addr, bin)
	cmd.Env = append(os.Environ(), env...)
	logs := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = logs, logs
	// The emulator starts the function as its child: stop both.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if tb.Failed() || os.Getenv("PIXPOOL_TEST_LOGS") != "" {
			tb.Logf("function's output:\n%s", logs)
		}
	})
	f := &function{t: tb, url: "http://" + addr + "/2015-03-31/functions/function/invocations", jar: map[string]string{},
		client: &http.Client{Timeout: 2 * time.Minute}, logs: logs}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return f
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the emulator does not listen on %s: %v\n%s", addr, err, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// invoke sends one event and returns the function's answer.
func (f *function) invoke(event any) []byte {
	f.t.Helper()
	b, err := json.Marshal(event)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := f.client.Post(f.url, "application/json", bytes.NewReader(b))
	if err != nil {
		f.t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		f.t.Fatalf("invoke: status %d, %v: %s", resp.StatusCode, err, out)
	}
	return out
}

// request is one HTTP request to send as an API Gateway HTTP API event.
type request struct {
	method, path, query string
	header              map[string]string
	body                []byte
}

// do sends r as API Gateway would, with the jar's cookies in the event's
// cookies array, and keeps the cookies the answer sets.
func (f *function) do(r request) (events.APIGatewayV2HTTPResponse, []byte) {
	f.t.Helper()
	path, _, _ := strings.Cut(r.path, "?")
	e := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: r.query,
		Headers: map[string]string{"host": "abc123.execute-api.eu-west-1.amazonaws.com", "x-forwarded-proto": "https", "user-agent": "lambda-test"},
	}
	for k, v := range r.header {
		e.Headers[strings.ToLower(k)] = v
	}
	for name, value := range f.jar {
		e.Cookies = append(e.Cookies, name+"="+value)
	}
	slices.Sort(e.Cookies)
	e.RequestContext.HTTP.Method = r.method
	e.RequestContext.HTTP.Path = path
	e.RequestContext.HTTP.Protocol = "HTTP/1.1"
	e.RequestContext.HTTP.SourceIP = "198.51.100.20"
	e.RequestContext.DomainName = "abc123.execute-api.eu-west-1.amazonaws.com"
	e.RequestContext.RequestID = fmt.Sprint(time.Now().UnixNano())
	if r.body != nil {
		// As API Gateway sends any body that is not text: in base64.
		e.Body, e.IsBase64Encoded = base64.StdEncoding.EncodeToString(r.body), true
	}
	var resp events.APIGatewayV2HTTPResponse
	out := f.invoke(e)
	if err := json.Unmarshal(out, &resp); err != nil {
		f.t.Fatalf("answer is not an HTTP API response: %v: %s", err, out)
	}
	for _, c := range resp.Cookies {
		parsed, err := http.ParseSetCookie(c)
		if err != nil {
			f.t.Fatalf("Set-Cookie %q: %v", c, err)
		}
		if parsed.MaxAge < 0 || parsed.Value == "" {
			delete(f.jar, parsed.Name)
		} else {
			f.jar[parsed.Name] = parsed.Value
		}
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			f.t.Fatalf("body: %v", err)
		}
	}
	return resp, body
}

func (f *function) wantStatus(resp events.APIGatewayV2HTTPResponse, body []byte, want int) {
	f.t.Helper()
	if resp.StatusCode != want {
		f.t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, body)
	}
}

// form is a URL-encoded form request.
func form(path string, v url.Values) request {
	return request{method: "POST", path: path, body: []byte(v.Encode()),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}
}

// upload is a multipart upload of data under key to path.
func upload(t testing.TB, path, key string, data []byte, header map[string]string) request {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("key", key)
	fw, _ := mw.CreateFormFile("file", "photo")
	fw.Write(data)
	mw.Close()
	h := map[string]string{"Content-Type": mw.FormDataContentType()}
	for k, v := range header {
		h[k] = v
	}
	return request{method: "POST", path: path, body: b.Bytes(), header: h}
}

func testJPEG(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 200, 150))
	for y := range 150 {
		for x := range 200 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestLambda runs the real binary as a Lambda function under
// aws-lambda-rie, on PostgreSQL and S3, and drives it with API Gateway
// HTTP API events as a browser and an API client would, then with a
// scheduled event.
func TestLambda(t *testing.T) {
	rie := lambdaEmulator(t)
	dsn, err := pixpooltest.PostgresDatabase(t, "")
	if err != nil {
		t.Fatal(err)
	}
	blob := pixpooltest.S3Bucket(t) // sets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
	node := pixpooltest.Memcached(t)
	bin := buildPixpool(t)
	f := startFunction(t, rie, bin,
		"PIXPOOL_DB="+dsn, "PIXPOOL_BLOB="+blob, "PIXPOOL_CACHE_NODES="+node, "PIXPOOL_ADMIN_PASSWORD=admin password 1",
		"PIXPOOL_ANALYZE_TIMEOUT=1m")

	resp, body := f.do(request{method: "GET", path: "/healthz"})
	f.wantStatus(resp, body, http.StatusOK)

	t.Run("SignUpAndLogin", func(t *testing.T) {
		f.t = t
		v := url.Values{
			"username": {"ada"}, "first_name": {"Ada"}, "last_name": {"Lovelace"},
			"email": {"ada@example.org"}, "birthday": {"1990-05-17"}, "phone": {"+44 20 7946 0000"},
			"password": {"correct horse battery"}, "password_confirm": {"correct horse battery"},
		}
		resp, body := f.do(form("/signup", v))
		f.wantStatus(resp, body, http.StatusSeeOther)
		if f.jar["pixpool_session"] == "" {
			t.Fatalf("sign-up set no session cookie; cookies %q", resp.Cookies)
		}
		if !strings.Contains(strings.Join(resp.Cookies, "\n"), "Secure") {
			t.Errorf("session cookie not Secure behind API Gateway: %q", resp.Cookies)
		}
		if resp.Headers["Strict-Transport-Security"] == "" {
			t.Errorf("no HSTS behind API Gateway, which serves HTTPS only: %q", resp.Headers)
		}
		// Log out and in again: the new session's cookie comes back in the
		// answer's cookies array and is sent back in the next event's.
		delete(f.jar, "pixpool_session")
		resp, body = f.do(request{method: "GET", path: "/api/v1/me"})
		f.wantStatus(resp, body, http.StatusUnauthorized)
		resp, body = f.do(form("/login", url.Values{"username": {"ada"}, "password": {"correct horse battery"}}))
		f.wantStatus(resp, body, http.StatusSeeOther)
		if f.jar["pixpool_session"] == "" {
			t.Fatalf("login set no session cookie; cookies %q", resp.Cookies)
		}
		resp, body = f.do(request{method: "GET", path: "/api/v1/me"})
		f.wantStatus(resp, body, http.StatusOK)
		if !bytes.Contains(body, []byte(`"ada"`)) {
			t.Fatalf("/api/v1/me: %s", body)
		}
		resp, body = f.do(request{method: "GET", path: "/images"})
		f.wantStatus(resp, body, http.StatusOK)
	})
	if t.Failed() {
		return
	}

	png := pixpooltest.NoisyPNG(t, 300, 200)
	jpg := testJPEG(t)
	t.Run("UploadGetListDelete", func(t *testing.T) {
		f.t = t
		for _, c := range []struct {
			key  string
			data []byte
			typ  string
		}{{"photos/a.png", png, "image/png"}, {"b é.jpg", jpg, "image/jpeg"}} {
			resp, body := f.do(upload(t, "/api/v1/images", c.key, c.data, nil))
			f.wantStatus(resp, body, http.StatusCreated)
			// Read twice: the first from S3, the second from the cache.
			for range 2 {
				resp, body = f.do(request{method: "GET", path: "/api/v1/images/" + url.PathEscape(c.key)})
				f.wantStatus(resp, body, http.StatusOK)
				if !resp.IsBase64Encoded || !bytes.Equal(body, c.data) {
					t.Fatalf("%s: %d bytes back (base64 %v), want the %d uploaded", c.key, len(body), resp.IsBase64Encoded, len(c.data))
				}
				if got := resp.Headers["Content-Type"]; got != c.typ {
					t.Errorf("%s: Content-Type %q, want %q", c.key, got, c.typ)
				}
			}
		}
		resp, body := f.do(request{method: "GET", path: "/api/v1/images", query: "limit=10"})
		f.wantStatus(resp, body, http.StatusOK)
		for _, k := range []string{`"photos/a.png"`, `"b é.jpg"`} {
			if !bytes.Contains(body, []byte(k)) {
				t.Errorf("list lacks %s: %s", k, body)
			}
		}
		// The gallery's thumbnail was made during the upload's invocation.
		resp, body = f.do(request{method: "GET", path: "/thumb", query: "key=photos%2Fa.png"})
		f.wantStatus(resp, body, http.StatusOK)
		if _, format, err := image.DecodeConfig(bytes.NewReader(body)); err != nil || format != "jpeg" {
			t.Errorf("thumbnail: %v, format %q", err, format)
		}
		// The web form, as a browser sends it: the page's CSRF token, the
		// session cookie, a multipart body.
		resp, body = f.do(request{method: "GET", path: "/upload"})
		f.wantStatus(resp, body, http.StatusOK)
		m := regexp.MustCompile(`action="/upload\?csrf=([^"]+)"`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("upload page without its CSRF token: %s", body)
		}
		if !bytes.Contains(body, []byte(`data-max-size="4 MiB"`)) {
			t.Errorf("upload page does not say the 4 MiB limit")
		}
		form := upload(t, "/upload", "web.png", png, nil)
		form.query = "csrf=" + string(m[1])
		resp, body = f.do(form)
		f.wantStatus(resp, body, http.StatusSeeOther)
		resp, body = f.do(request{method: "GET", path: "/raw", query: "key=web.png"})
		f.wantStatus(resp, body, http.StatusOK)
		if !bytes.Equal(body, png) {
			t.Fatalf("web upload: %d bytes back, want the %d sent", len(body), len(png))
		}
		resp, body = f.do(request{method: "DELETE", path: "/api/v1/images/b%20%C3%A9.jpg"})
		f.wantStatus(resp, body, http.StatusOK)
		resp, body = f.do(request{method: "GET", path: "/api/v1/images/b%20%C3%A9.jpg"})
		f.wantStatus(resp, body, http.StatusNotFound)
	})

	t.Run("TooLarge", func(t *testing.T) {
		f.t = t
		big := bytes.Repeat([]byte{0xff}, 4<<20+1)
		resp, body := f.do(upload(t, "/api/v1/images", "big", big, nil))
		f.wantStatus(resp, body, http.StatusRequestEntityTooLarge)
		if !bytes.Contains(body, []byte("4 MiB")) {
			t.Errorf("413 does not say the limit: %s", body)
		}
	})

	t.Run("LargeImage", func(t *testing.T) {
		// An image stored by a server not on Lambda, too large for an
		// invocation's answer: the function redirects to S3.
		f.t = t
		ctx := context.Background()
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		blobs, err := openBlobs(ctx, t.TempDir(), blob, s3Keys{})
		if err != nil {
			t.Fatal(err)
		}
		u, err := st.UserByUsername(ctx, "ada")
		if err != nil {
			t.Fatal(err)
		}
		big := pixpooltest.NoisyPNG(t, 1600, 1200)
		if len(big) <= lambda.MaxBody {
			t.Fatalf("test image of %d bytes fits in an answer", len(big))
		}
		images := &service.Images{Store: st, Blobs: blobs}
		if _, err := images.Put(ctx, u.ID, "large.png", big); err != nil {
			t.Fatal(err)
		}
		images.Wait()
		resp, body := f.do(request{method: "GET", path: "/api/v1/images/large.png"})
		f.wantStatus(resp, body, http.StatusTemporaryRedirect)
		loc := resp.Headers["Location"]
		got, err := http.Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if got.StatusCode != http.StatusOK || !bytes.Equal(data, big) || got.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("presigned URL: status %d, %d bytes, type %q; want the %d bytes stored", got.StatusCode, len(data), got.Header.Get("Content-Type"), len(big))
		}
		// The web UI's download keeps its file name.
		resp, body = f.do(request{method: "GET", path: "/raw", query: "key=large.png&download=1"})
		f.wantStatus(resp, body, http.StatusTemporaryRedirect)
		got, err = http.Get(resp.Headers["Location"])
		if err != nil {
			t.Fatal(err)
		}
		data, _ = io.ReadAll(got.Body)
		got.Body.Close()
		if cd := got.Header.Get("Content-Disposition"); !bytes.Equal(data, big) || !strings.Contains(cd, `filename=large.png`) {
			t.Errorf("download: %d bytes, Content-Disposition %q; want the image as large.png", len(data), cd)
		}
		// The compat API's answer holds the bytes in JSON: too large, said so.
		resp, body = f.do(request{method: "POST", path: "/api/key/large.png"})
		f.wantStatus(resp, body, http.StatusBadGateway)
		if !bytes.Contains(body, []byte("larger than AWS Lambda's limit")) {
			t.Errorf("502 does not say why: %s", body)
		}
		resp, body = f.do(request{method: "DELETE", path: "/api/v1/images/large.png"})
		f.wantStatus(resp, body, http.StatusOK)
	})

	t.Run("Compat", func(t *testing.T) {
		f.t = t
		resp, body := f.do(request{method: "POST", path: "/api/v1/apikeys", body: []byte(`{"name":"tester"}`),
			header: map[string]string{"Content-Type": "application/json"}})
		f.wantStatus(resp, body, http.StatusCreated)
		var key struct{ Secret string }
		json.Unmarshal(body, &key)
		saved := f.jar
		f.jar = map[string]string{} // an API client: no cookies
		defer func() { f.jar = saved }()
		auth := map[string]string{"Authorization": "Bearer " + key.Secret}
		resp, body = f.do(upload(t, "/api/upload", "compat-1", jpg, auth))
		f.wantStatus(resp, body, http.StatusOK)
		var up map[string]string
		if err := json.Unmarshal(body, &up); err != nil || up["success"] != "true" || up["key"] != "compat-1" {
			t.Errorf("upload: %s (%v), want success \"true\" and the key", body, err)
		}
		resp, body = f.do(request{method: "POST", path: "/api/list_keys", header: auth})
		f.wantStatus(resp, body, http.StatusOK)
		if !bytes.Contains(body, []byte(`"compat-1"`)) || !bytes.Contains(body, []byte(`"photos/a.png"`)) {
			t.Errorf("list_keys: %s", body)
		}
		resp, body = f.do(request{method: "POST", path: "/api/key/compat-1", header: auth})
		f.wantStatus(resp, body, http.StatusOK)
		var got struct{ Success, Key, Content string }
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if data, _ := base64.StdEncoding.DecodeString(got.Content); got.Success != "true" || !bytes.Equal(data, jpg) {
			t.Errorf("key: success %q, %d bytes, want the JPEG uploaded", got.Success, len(data))
		}
		resp, body = f.do(request{method: "POST", path: "/api/key/missing", header: auth})
		f.wantStatus(resp, body, http.StatusNotFound)
		resp, body = f.do(request{method: "POST", path: "/api/getNumNodes", header: auth})
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusForbidden {
			t.Errorf("getNumNodes: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("Scheduled", func(t *testing.T) {
		f.t = t
		resp, body := f.do(request{method: "GET", path: "/api/v1/analysis/photos/a.png"})
		f.wantStatus(resp, body, http.StatusOK)
		var an struct{ Status, Missing string }
		json.Unmarshal(body, &an)
		if an.Status != "pending" {
			t.Fatalf("analysis of a new upload: %s, want pending until the scheduled round", body)
		}
		round := func() (RoundReport, []byte) {
			out := f.invoke(map[string]any{
				"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
				"source": "aws.events", "account": "123456789012", "time": time.Now().UTC().Format(time.RFC3339),
				"region": "eu-west-1", "resources": []string{"arn:aws:events:eu-west-1:123456789012:rule/pixpool-maintenance"}, "detail": map[string]any{},
			})
			var rep RoundReport
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("round report: %v: %s", err, out)
			}
			t.Logf("round: %s", out)
			return rep, out
		}
		rep, out := round()
		if !rep.Swept {
			t.Errorf("the first round did not sweep: %s", out)
		}
		if len(rep.Errors) > 0 {
			t.Errorf("round errors: %q", rep.Errors)
		}
		if !rep.Sampled {
			t.Errorf("the round, leading the pool while no one does, stored no stats sample: %s", out)
		}
		resp, body = f.do(request{method: "GET", path: "/api/v1/analysis/photos/a.png"})
		f.wantStatus(resp, body, http.StatusOK)
		json.Unmarshal(body, &an)
		switch {
		case rep.Recognition != "" && strings.HasPrefix(rep.Recognition, "Recognition is not installed"):
			// Nothing to analyse with: the round says so and leaves the queue.
			if !rep.AnalysisLeft || an.Status != "pending" {
				t.Errorf("without recognition: report %s, analysis %s; want it left pending", out, body)
			}
		case an.Status != "done" || rep.Analysed < 2:
			t.Errorf("after the round: analysis %s, report %s; want done", body, out)
		}
		// The next round, asked for by hand within the hour, leaves the
		// sweeps alone.
		out = f.invoke(map[string]string{"pixpool": "maintenance"})
		rep = RoundReport{}
		if err := json.Unmarshal(out, &rep); err != nil || rep.Swept || len(rep.Errors) > 0 || !rep.Sampled {
			t.Errorf("second round: %s (%v); want a round without sweeps or errors", out, err)
		}
	})
}

// TestLambdaConfig: Lambda mode refuses stores an instance would keep to
// itself, and bounds uploads by what fits in an event.
func TestLambdaConfig(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	const pg, s3 = "postgres://pixpool@db.internal:5432/pixpool", "s3://photos?region=eu-west-1"
	for _, c := range []struct {
		name, db, blob, want string
	}{
		{"SQLite", "", s3, "needs a PostgreSQL --db"},
		{"SQLiteFile", "sqlite:/tmp/p.db", s3, "needs a PostgreSQL --db"},
		{"Folder", pg, "", "needs an S3 --blob"},
		{"FolderFile", pg, "file:/tmp/blobs", "needs an S3 --blob"},
	} {
		t.Run("Err"+c.name, func(t *testing.T) {
			cfg := Config{DB: c.db, Blob: c.blob}
			err := lambdaConfig(&cfg, map[string]bool{}, quiet)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "/tmp is each instance's own") {
				t.Fatalf("lambdaConfig()=%v, want an error saying %q and why", err, c.want)
			}
		})
	}
	t.Run("Adapted", func(t *testing.T) {
		cfg := Config{DB: pg, Blob: s3, Data: "./pixpool-data", CacheSize: 3, MaxUpload: 20 << 20}
		if err := lambdaConfig(&cfg, map[string]bool{}, quiet); err != nil {
			t.Fatal(err)
		}
		if got, want := cfg.Data, lambdaDefaultData(); got != want {
			t.Errorf("Data=%q, want %q", got, want)
		}
		if cfg.CacheSize != 0 {
			t.Errorf("CacheSize=%d without --cache-nodes, want 0: no local nodes in a function", cfg.CacheSize)
		}
		if got, want := cfg.MaxUpload, int64(lambdaMaxUpload); got != want {
			t.Errorf("MaxUpload=%d, want %d", got, want)
		}
		if !cfg.SecureCookies {
			t.Error("cookies not Secure: API Gateway serves HTTPS only")
		}
		// What the limit admits fits in an event, as multipart in base64.
		if lambdaMaxUpload+16<<10 > lambda.MaxBody {
			t.Errorf("max upload %d leaves no room for the form within %d", lambdaMaxUpload, lambda.MaxBody)
		}
	})
	t.Run("ErrListeners", func(t *testing.T) {
		for _, cfg := range []Config{
			{DB: pg, Blob: s3, MetricsAddr: "127.0.0.1:9090"},
			{DB: pg, Blob: s3, acmeConfig: acmeConfig{Domains: "photos.example.com"}},
		} {
			if err := lambdaConfig(&cfg, map[string]bool{}, quiet); err == nil {
				t.Errorf("%+v accepted in Lambda mode", cfg)
			}
		}
	})
}

// TestLambdaInvoke_Unknown: events the function does not take are
// refused with what it takes instead.
func TestLambdaInvoke_Unknown(t *testing.T) {
	f := &lambdaFunc{}
	for _, c := range []struct{ name, event, want string }{
		{"RESTv1", `{"httpMethod":"GET","path":"/","requestContext":{"stage":"prod"}}`, "payload format 1.0"},
		{"S3", `{"Records":[{"eventSource":"aws:s3"}]}`, "unknown event"},
		{"NotJSONObject", `[1,2]`, "not a JSON object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.Invoke(context.Background(), json.RawMessage(c.event))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Invoke(%s)=%v, want an error saying %q", c.event, err, c.want)
			}
		})
	}
}

// TestLazyAnalyzer: without the detector's files, Lambda mode's analyzer
// says labels are missing, as newAnalyzer would, without loading anything.
func TestLazyAnalyzer(t *testing.T) {
	c := &Config{Data: t.TempDir(), RecognitionDirs: []string{t.TempDir()}}
	a := lazyAnalyzer(nil, nil, c, nil, slog.New(slog.DiscardHandler))
	if a.Labels != nil || !strings.Contains(a.LabelsMissing, "scripts/setup-recognition.sh") {
		t.Fatalf("Labels set %v, LabelsMissing %q; want labels missing, and how to install them", a.Labels != nil, a.LabelsMissing)
	}
	if a.Installed() == "" {
		t.Fatal("Installed() says recognition is complete without the detector")
	}
}
