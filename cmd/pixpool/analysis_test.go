package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/recognize/text"
)

type analysisResp struct {
	Status   string
	Attempts int
	Labels   []struct{ Name string }
	Missing  string
	Error    string
}

func getAnalysis(t *testing.T, c *client, key string) analysisResp {
	t.Helper()
	var a analysisResp
	if err := json.Unmarshal(expect(t, c.do("GET", keyPath(key)+"/analysis", nil), http.StatusOK), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func waitAnalysed(t *testing.T, c *client, key string) analysisResp {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		a := getAnalysis(t, c, key)
		if a.Status == "done" || a.Status == "failed" {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s after 90 s", key, a.Status)
		}
		time.Sleep(250 * time.Millisecond) // analysis pauses while requests come
	}
}

// TestServe_Analysis: an upload is analysed in the background; the result
// is served and searchable, and can be asked for again.
func TestServe_Analysis(t *testing.T) {
	dir := recognitionDir(t)
	data := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "recognition"), filepath.Join(data, "recognition")); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Config{Data: data, Analyze: true, MaxUpload: 20 << 20})
	ada := &client{t, s.url, newUser(t, s, "ada", false)}
	photo, err := os.ReadFile(filepath.Join(dir, "recognition", "testdata", "dog.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, ada.do("PUT", keyPath("pets/dog.jpg"), bytes.NewReader(photo)), http.StatusCreated)
	a := waitAnalysed(t, ada, "pets/dog.jpg")
	var names []string
	for _, l := range a.Labels {
		names = append(names, l.Name)
	}
	if a.Status != "done" || !slices.Contains(names, "dog") || !slices.Contains(names, "bicycle") {
		t.Fatalf("analysis %+v", a)
	}
	b := expect(t, ada.do("GET", "/api/v1/search?q=Dog", nil), http.StatusOK)
	if !strings.Contains(string(b), `"pets/dog.jpg"`) {
		t.Fatalf("search for dog: %s", b)
	}
	if b := expect(t, ada.do("GET", "/api/v1/search?q=giraffe", nil), http.StatusOK); strings.Contains(string(b), "dog.jpg") {
		t.Fatalf("search for giraffe: %s", b)
	}
	bob := &client{t, s.url, newUser(t, s, "bob", false)}
	if b := expect(t, bob.do("GET", "/api/v1/search?q=dog", nil), http.StatusOK); strings.Contains(string(b), "dog.jpg") {
		t.Fatal("another user's images found by search")
	}
	expect(t, bob.do("GET", keyPath("pets/dog.jpg")+"/analysis", nil), http.StatusNotFound)
	expect(t, ada.do("POST", keyPath("pets/dog.jpg")+"/analysis", nil), http.StatusAccepted)
	if a := waitAnalysed(t, ada, "pets/dog.jpg"); a.Status != "done" {
		t.Fatalf("re-analysis %+v", a)
	}
}

// TestServe_AnalysisNotInstalled: without the models the rest works, and
// the API says what is missing and how to install it.
func TestServe_AnalysisNotInstalled(t *testing.T) {
	s := startServer(t, Config{Analyze: true})
	ada := &client{t, s.url, newUser(t, s, "ada", false)}
	expect(t, ada.do("PUT", keyPath("x"), bytes.NewReader(pixpooltest.PNG(t, 8, 8, 1))), http.StatusCreated)
	a := getAnalysis(t, ada, "x")
	if !strings.Contains(a.Missing, "scripts/setup-recognition.sh") {
		t.Fatalf("missing=%q", a.Missing)
	}
	expect(t, ada.do("GET", keyPath("x"), nil), http.StatusOK)
}

// recognitionDir is where scripts/setup-recognition.sh put the models
// (PIXPOOL_RECOGNITION_DIR): without it the test is skipped, except in CI,
// where make test sets it.
func recognitionDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PIXPOOL_RECOGNITION_DIR")
	if dir == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PIXPOOL_RECOGNITION_DIR is not set (make test sets it)")
		}
		t.Skip("PIXPOOL_RECOGNITION_DIR is not set; run scripts/setup-recognition.sh DIR and set it")
	}
	return dir
}

// TestServe_AnalysisSurvivesKill: a server killed (SIGKILL) while it
// analyses loses no work: after a restart every image ends analysed, the
// interrupted one on its second attempt. The servers read text only (the
// detector is not installed in their data folder): the queue is the same,
// and Tesseract, a process of its own, keeps the test quick under the race
// detector, which slows the pure-Go detector tenfold.
func TestServe_AnalysisSurvivesKill(t *testing.T) {
	dir := recognitionDir(t)
	if err := text.Available(); err != nil {
		t.Skip(err)
	}
	data := t.TempDir()
	cli(t, data, "password123\n", "user", "create", "ada")
	ada := &client{t: t, key: strings.TrimSpace(cli(t, data, "", "apikey", "create", "ada"))}

	photos := []string{"dog.jpg", "horses.jpg", "person.jpg", "giraffe.jpg", "eagle.jpg"}
	var kill func()
	ada.base, kill = startChild(t, data)
	for _, name := range photos {
		b, err := os.ReadFile(filepath.Join(dir, "recognition", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		expect(t, ada.do("PUT", keyPath(name), bytes.NewReader(b), "Content-Length", fmt.Sprint(len(b))), http.StatusCreated)
	}
	// Kill it once an analysis is under way: claimed (one attempt), not saved.
	var interrupted string
	deadline := time.Now().Add(60 * time.Second)
	for interrupted == "" {
		for _, name := range photos[1:] { // the first may be done before we look
			if a := getAnalysis(t, ada, name); a.Status == "pending" && a.Attempts == 1 {
				interrupted = name
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no analysis under way within 60 s")
		}
		time.Sleep(100 * time.Millisecond) // analysis pauses while requests come
	}
	kill()

	ada.base, _ = startChild(t, data)
	for _, name := range photos {
		a := waitAnalysed(t, ada, name)
		if a.Status != "done" {
			t.Errorf("%s: %+v", name, a)
		}
		if name == interrupted && a.Attempts != 2 {
			t.Errorf("%s, interrupted by the kill: %d attempts, want 2", name, a.Attempts)
		}
	}
}

// startChild runs `pixpool serve` on data in a child process (this test
// binary; see TestMain) on a free loopback port and returns its URL once it
// is ready, and a func that SIGKILLs it. Analyses time out after 20 s
// (Go's part of the work is slow under the race detector), so a killed
// child's are taken up again 40 s after they began.
func startChild(t *testing.T, data string) (url string, kill func()) {
	t.Helper()
	// The models only in data, where they are not: not those of make test's
	// PIXPOOL_RECOGNITION_DIR or the user's cache folder.
	p := startServeBinary(t, data, nil, "--analyze=true", "--cache-size", "0", "--analyze-timeout", "20s", "--recognition-dir", data)
	return p.url, func() {
		p.cmd.Process.Kill()
		<-p.exited
	}
}
