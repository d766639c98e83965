// Package e2e drives the web UI in a real headless Chromium, against the
// real server wiring, to check what the handler tests cannot: that the
// pages work in a browser, with their scripts, forms, redirects, cookies
// and images.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	pixhttp "github.com/pixpool/pixpool/http"
	"github.com/pixpool/pixpool/pixpooltest"
)

const (
	// stepTimeout bounds every step of a scenario: each wait in it ends
	// with the step's context at the latest.
	stepTimeout = 30 * time.Second
	// browserLifetime bounds the whole browser, so that a hung Chromium
	// cannot hold the test until go test's own ten-minute timeout.
	browserLifetime = 3 * time.Minute
	// pollInterval is how often waitJS asks the page again.
	pollInterval = 50 * time.Millisecond
	// imageTimeout bounds the wait for an image to load from loopback.
	imageTimeout = 10 * time.Second
	// outputLines is how much of the browser's output a failure shows.
	outputLines = 40
)

// browserNames are the programs findBrowser looks for, in order.
var browserNames = []string{"chromium", "chromium-browser", "google-chrome"}

// findBrowser returns the path of a Chromium. Without one it skips the
// test, except under CI, which must run it (scripts/test-deps.sh installs
// Chromium there).
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range browserNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("no Chromium in PATH (looked for %s); install it with scripts/test-deps.sh",
		strings.Join(browserNames, ", "))
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so the browser tests must run)")
	}
	t.Skip(msg)
	return ""
}

// uploadRecorder notes how each POST /upload came in, so the test can
// tell the script's XMLHttpRequest from a plain form post: both end on the
// same image page.
type uploadRecorder struct {
	mu  sync.Mutex
	xhr []bool
}

func (u *uploadRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/upload" {
			u.mu.Lock()
			u.xhr = append(u.xhr, r.Header.Get("X-Requested-With") == "XMLHttpRequest")
			u.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

// last returns how many uploads came and whether the last was an XHR.
func (u *uploadRecorder) last() (n int, xhr bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.xhr) == 0 {
		return 0, false
	}
	return len(u.xhr), u.xhr[len(u.xhr)-1]
}

// startServer runs the web tier over pixpooltest's embedded stores.
func startServer(t *testing.T, rec *uploadRecorder) string {
	t.Helper()
	env := pixpooltest.New(t)
	srv := &pixhttp.Server{Accounts: env.Accounts, Images: env.Images, Store: env.Store, Logger: env.Logger}
	ts := httptest.NewServer(rec.wrap(srv.Handler()))
	t.Cleanup(ts.Close)
	return ts.URL
}

// lockedBuffer collects the browser's output, which chromedp writes from
// its own goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// tail returns the last n lines written.
func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.SplitAfter(strings.TrimRight(b.buf.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "")
}

// startBrowser launches headless Chromium and returns the context of its
// first tab. The browser is closed when the test ends.
func startBrowser(t *testing.T, execPath string) context.Context {
	t.Helper()
	// A fresh profile per run. t.TempDir's cleanup runs after the ones
	// registered below, so the browser is gone before the folder is removed.
	profile := t.TempDir()
	var output lockedBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox, // we may run as root, in a container
		chromedp.NoFirstRun,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true), // the server is on 127.0.0.1
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(&output),
	)
	life, cancelLife := context.WithTimeout(context.Background(), browserLifetime)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Close Chromium gracefully (it then waits for its helpers),
		// then free the allocator, which waits for the process to exit.
		closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Cancel(closeCtx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("closing the browser: %v", err)
		}
		cancelTab()
		cancelAlloc()
		cancelLife()
		if t.Failed() {
			t.Logf("browser output (last %d lines):\n%s", outputLines, output.tail(outputLines))
		}
	})
	// The first action starts the browser and ties it to the context it
	// gets, so give it the long-lived one; steps use shorter children.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v\nbrowser output (last %d lines):\n%s", execPath, err, outputLines, output.tail(outputLines))
	}
	return ctx
}

// screenshotDir is where screenshots go: $PIXPOOL_SCREENSHOTS if set, to
// look at them after the run, else a temporary folder.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PIXPOOL_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// stepper returns a scenario's step runner: each step runs as a subtest
// with its own deadline (stepTimeout) in browser; the scenario stops at
// the first step that fails, since the later ones build on it, and a
// failed step leaves a screenshot in shots named prefix + the step.
func stepper(t *testing.T, browser context.Context, shots, prefix string) func(name string, f func(t *testing.T, ctx context.Context)) {
	return func(name string, f func(t *testing.T, ctx context.Context)) {
		t.Helper()
		ok := t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(browser, stepTimeout)
			defer cancel()
			defer func() {
				if t.Failed() {
					sctx, cancel := context.WithTimeout(browser, 5*time.Second)
					defer cancel()
					screenshot(t, sctx, shots, prefix+strings.ReplaceAll(name, " ", "-"))
				}
			}()
			f(t, ctx)
		})
		if !ok {
			t.FailNow()
		}
	}
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// writeNoisePNG writes a PNG of random pixels, which does not compress, so
// the file is about 3 bytes a pixel.
func writeNoisePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			v := r.Uint32()
			img.SetRGBA(x, y, color.RGBA{uint8(v), uint8(v >> 8), uint8(v >> 16), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// do runs actions that return nothing, failing the test with what.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// navigate runs actions that make the page navigate (a click on a link or
// a submit button, a script that assigns location) and waits until the new
// page has loaded, following redirects. It returns the final response.
func navigate(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) *network.Response {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		t.Fatalf("%s: %v (page: %s)", what, err, describe(ctx))
	}
	return resp
}

// evalJS evaluates a JavaScript expression in the page and decodes its
// JSON value into T.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	var v T
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// pollJS evaluates expr again and again until it gives something other
// than false or null, and decodes that into T. It polls from Go rather
// than with page timers, so it works in a page whose scripts are off.
func pollJS[T any](ctx context.Context, expr string) (T, error) {
	var v T
	for {
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
		if err != nil {
			return v, err
		}
		if s := string(raw); s != "false" && s != "null" {
			return v, json.Unmarshal(raw, &v)
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// waitJS is pollJS failing the test with what it waited for.
func waitJS[T any](t *testing.T, ctx context.Context, what, expr string) T {
	t.Helper()
	v, err := pollJS[T](ctx, expr)
	if err != nil {
		t.Fatalf("waiting for %s: %v (page: %s)", what, err, describe(ctx))
	}
	return v
}

// pageState is what a page shows, read in one go.
type pageState struct {
	Path   string `json:"path"`
	Query  string `json:"query"` // the key=... parameter, decoded
	Title  string `json:"title"`
	H1     string `json:"h1"`
	Error  string `json:"error"`  // the visible .alert.error
	Notice string `json:"notice"` // the visible .alert.notice
	User   string `json:"user"`   // the username in the nav; "" when logged out
}

const pageStateJS = `(() => {
	const text = (sel) => { const e = document.querySelector(sel); return e && !e.hidden ? e.textContent.trim() : ""; };
	return {
		path: location.pathname,
		query: new URLSearchParams(location.search).get("key") || "",
		title: document.title,
		h1: text("main h1"),
		error: text(".alert.error"),
		notice: text(".alert.notice"),
		user: text(".nav-user a.user"),
	};
})()`

func state(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	return evalJS[pageState](t, ctx, pageStateJS)
}

// describe summarises the page for a failure message, with a short
// context of its own so that it works after the step's has ended.
func describe(ctx context.Context) string {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	raw, err := chromedp.Run(dctx, chromedp.Evaluate[[]byte](pageStateJS))
	if err != nil {
		return fmt.Sprintf("unknown: %v", err)
	}
	return string(raw)
}

// imageSize is an <img>'s decoded size: naturalWidth is 0 until the image
// has loaded, and stays 0 if it failed to.
type imageSize struct {
	W   int    `json:"w"`
	H   int    `json:"h"`
	Src string `json:"src"`
}

// waitImage waits until the image that sel finds has loaded and decoded.
// A broken image never does, so it gets a shorter deadline than the step.
func waitImage(t *testing.T, ctx context.Context, sel string) imageSize {
	t.Helper()
	q, _ := json.Marshal(sel)
	ictx, cancel := context.WithTimeout(ctx, imageTimeout)
	defer cancel()
	img, err := pollJS[imageSize](ictx, fmt.Sprintf(`(() => {
		const i = document.querySelector(%s);
		return i && i.complete && i.naturalWidth > 0 ? {w: i.naturalWidth, h: i.naturalHeight, src: i.currentSrc} : null;
	})()`, q))
	if err != nil {
		// Say what the image is doing instead, with the step's context.
		seen, _ := chromedp.Run(ctx, chromedp.Evaluate[[]byte](fmt.Sprintf(`(() => {
			const i = document.querySelector(%s);
			return i ? {src: i.src, complete: i.complete, naturalWidth: i.naturalWidth} : "no such element";
		})()`, q)))
		t.Fatalf("image %s did not load: %v; it is %s (page: %s)", sel, err, seen, describe(ctx))
	}
	return img
}

// count is how many elements sel finds.
func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	q, _ := json.Marshal(sel)
	return evalJS[int](t, ctx, fmt.Sprintf(`document.querySelectorAll(%s).length`, q))
}

// texts are the trimmed texts of the elements sel finds.
func texts(t *testing.T, ctx context.Context, sel string) []string {
	t.Helper()
	q, _ := json.Marshal(sel)
	return evalJS[[]string](t, ctx, fmt.Sprintf(`Array.from(document.querySelectorAll(%s), e => e.textContent.trim())`, q))
}

// value is the current value of the form field with the id.
func value(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("value of #%s: %v", id, err)
	}
	return v
}
