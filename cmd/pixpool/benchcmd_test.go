package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixpool/pixpool/loadgen"
)

func TestBenchFlags(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		c, err := parseBenchFlags(nil, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Size != 100<<10 || c.readFraction != 0.5 || c.Keys != 200 || c.Concurrency != 8 || c.nodes != nil || c.URL != "" {
			t.Fatalf("defaults: %+v", c)
		}
	})
	t.Run("Parsed", func(t *testing.T) {
		c, err := parseBenchFlags([]string{"--size", "1MiB", "--mix", "90:10", "--nodes", "1, 2,4,8", "--policy", "RR",
			"--capacity", "16", "--url", "http://127.0.0.1:8080/", "--api-key", "pp_x"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Size != 1<<20 || c.readFraction != 0.9 || len(c.nodes) != 4 || c.nodes[3] != 8 || c.Policy != "rr" || c.Capacity != 16 {
			t.Fatalf("parsed: %+v", c)
		}
		if got, want := c.URL, "http://127.0.0.1:8080"; got != want {
			t.Errorf("URL=%q, want %q", got, want)
		}
		if got, want := c.AdminKey, "pp_x"; got != want {
			t.Errorf("AdminKey=%q, want the API key %q", got, want)
		}
	})
	t.Run("APIKeyFromEnv", func(t *testing.T) {
		t.Setenv("PIXPOOL_API_KEY", "pp_fromenv")
		t.Setenv("PIXPOOL_ADMIN_KEY", "pp_admin")
		c, err := parseBenchFlags([]string{"--url", "http://localhost:1"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.APIKey != "pp_fromenv" || c.AdminKey != "pp_admin" {
			t.Fatalf("APIKey=%q AdminKey=%q, want them from the environment", c.APIKey, c.AdminKey)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"MixNoColon", []string{"--mix", "50"}, "--mix"},
		{"MixNegative", []string{"--mix", "-1:2"}, "--mix"},
		{"MixZero", []string{"--mix", "0:0"}, "--mix"},
		{"NodesZero", []string{"--nodes", "1,0"}, "--nodes"},
		{"NodesWord", []string{"--nodes", "two"}, "--nodes"},
		{"Policy", []string{"--policy", "fifo"}, "--policy"},
		{"SizeTiny", []string{"--size", "10"}, "--size"},
		{"SizeHuge", []string{"--size", "1GiB"}, "--size"},
		{"SizeWord", []string{"--size", "big"}, "size"},
		{"Format", []string{"--format", "gif"}, "--format"},
		{"Keys", []string{"--keys", "0"}, "--keys"},
		{"Concurrency", []string{"--concurrency", "0"}, "--concurrency"},
		{"Duration", []string{"--duration", "0s"}, "--duration"},
		{"Warmup", []string{"--warmup", "-1s"}, "--warmup"},
		{"Rate", []string{"--rate", "-5"}, "--rate"},
		{"Capacity", []string{"--capacity", "-1"}, "--capacity"},
		{"Rounds", []string{"--rounds", "0"}, "--rounds"},
		{"Prefix", []string{"--prefix", "a/b"}, "--prefix"},
		{"URLNoKey", []string{"--url", "http://127.0.0.1:8080"}, "PIXPOOL_API_KEY"},
		{"URLScheme", []string{"--url", "ftp://127.0.0.1", "--api-key", "pp_x"}, "--url"},
		{"URLUser", []string{"--url", "http://u:p@127.0.0.1", "--api-key", "pp_x"}, "--url"},
		{"KeyWithoutURL", []string{"--api-key", "pp_x"}, "--url"},
		{"KeepWithoutURL", []string{"--keep"}, "--url"},
		{"Arguments", []string{"extra"}, "no arguments"},
		{"UnknownFlag", []string{"--bogus"}, "bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseBenchFlags(tc.args, io.Discard)
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseBenchFlags(%q)=%v, want a usage error naming %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	names := map[string][]netip.Addr{
		"localhost": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
		"mapped":    {netip.MustParseAddr("::ffff:127.0.0.1")},
		"mixed":     {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.7")},
		"away":      {netip.MustParseAddr("198.51.100.1")},
		"nothing":   {},
	}
	old := lookupHost
	lookupHost = func(_ context.Context, host string) ([]netip.Addr, error) {
		a, ok := names[host]
		if !ok {
			return nil, errors.New("no such host")
		}
		return a, nil
	}
	t.Cleanup(func() { lookupHost = old })
	for url, ok := range map[string]bool{
		"http://127.0.0.1:8080":      true,
		"http://127.9.9.9":           true,
		"http://[::1]:8080":          true,
		"https://localhost:8443":     true,
		"http://mapped:1":            true,
		"http://10.0.0.1:8080":       false,
		"http://192.0.2.1":           false,
		"http://0.0.0.0:8080":        false,
		"http://[2001:db8::1]:80":    false,
		"http://mixed:8080":          false,
		"http://away:8080":           false,
		"http://nothing:8080":        false,
		"http://unknown.invalid:808": false,
	} {
		err := checkLoopback(context.Background(), url)
		if (err == nil) != ok {
			t.Errorf("checkLoopback(%q)=%v, want ok=%v", url, err, ok)
		}
	}

	t.Run("DialGuard", func(t *testing.T) {
		// The check before dialling: refused before any packet is sent.
		_, err := benchClient(1, true).Get("http://192.0.2.1:9/")
		if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
			t.Fatalf("GET of a remote address: %v, want a refusal", err)
		}
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		defer s.Close()
		resp, err := benchClient(1, true).Get(s.URL)
		if err != nil {
			t.Fatalf("GET of a loopback address: %v", err)
		}
		resp.Body.Close()
	})

	t.Run("RunRefuses", func(t *testing.T) {
		// Refused before any request: 192.0.2.0/24 is for documentation,
		// nothing answers there.
		var stderr bytes.Buffer
		err := run(context.Background(), []string{"bench", "--url", "http://192.0.2.1:8080", "--api-key", "pp_x"}, nil, io.Discard, &stderr)
		if got, want := exitStatus(err, io.Discard), 2; got != want || !strings.Contains(err.Error(), "--allow-remote") {
			t.Fatalf("bench of a remote URL: %v (exit %d), want a refusal naming --allow-remote (exit %d)", err, got, want)
		}
	})
}

// benchArgs are a short run's: a few keys of small images, short phases.
var benchArgs = []string{"--keys", "12", "--size", "8KiB", "--concurrency", "2", "--duration", "1s", "--warmup", "200ms", "--capacity", "1"}

// checkReport checks the shape of a bench report with the given node
// counts: every point measured reads and writes without errors and knows
// its hit rate.
func checkReport(t *testing.T, rep *loadgen.Report, nodes ...int) {
	t.Helper()
	if got, want := len(rep.Points), len(nodes); got != want {
		t.Fatalf("%d points, want %d", got, want)
	}
	if rep.Keys != 12 || rep.Concurrency != 2 || rep.Mix != "50:50" || rep.Format != "jpeg" || rep.SizeBytes < 4<<10 || rep.Model == "" {
		t.Errorf("settings: %+v", rep)
	}
	for i, p := range rep.Points {
		if p.Nodes != nodes[i] {
			t.Errorf("point %d: %d nodes, want %d", i, p.Nodes, nodes[i])
		}
		if p.Policy != "lru" || p.CapacityMB != 1 {
			t.Errorf("point %d: policy %q, %d MB/node; want lru, 1", i, p.Policy, p.CapacityMB)
		}
		if p.Reads.Count == 0 || p.Writes.Count == 0 || p.Throughput <= 0 {
			t.Errorf("point %d: %d reads, %d writes, %v ops/s; want some of each", i, p.Reads.Count, p.Writes.Count, p.Throughput)
		}
		if r := p.Reads; r.P50MS <= 0 || r.P50MS > r.P95MS || r.P95MS > r.P99MS || r.P99MS > r.MaxMS {
			t.Errorf("point %d: read quantiles out of order: %+v", i, r)
		}
		if p.HitRate == nil || *p.HitRate < 0 || *p.HitRate > 1 {
			t.Errorf("point %d: hit rate %v, want one in [0,1]", i, p.HitRate)
		}
		if len(p.Errors) != 0 {
			t.Errorf("point %d: errors %v", i, p.Errors)
		}
		if embedded := strings.HasPrefix(rep.Target, "embedded"); embedded != (p.CacheFailures != nil) {
			t.Errorf("point %d: cache failures %v; want them known only for the embedded server", i, p.CacheFailures)
		}
	}
}

// checkSVG checks that a file is well-formed XML with an svg root.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("%s: root element %q, want svg", path, root)
	}
}

func TestBench_Embedded(t *testing.T) {
	dir := t.TempDir()
	svg := filepath.Join(dir, "plot.svg")
	var stdout, stderr bytes.Buffer
	args := append([]string{"bench", "--nodes", "1,2", "--json", "--svg", svg}, benchArgs...)
	if err := run(context.Background(), args, nil, &stdout, &stderr); err != nil {
		t.Fatalf("pixpool bench: %v\n%s", err, stderr.String())
	}
	var rep loadgen.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, stdout.String())
	}
	checkReport(t, &rep, 1, 2)
	if !strings.HasPrefix(rep.Target, "embedded") {
		t.Errorf("target %q, want the embedded server", rep.Target)
	}
	checkSVG(t, svg)
	// Progress went to stderr as lines (not a terminal).
	if !strings.Contains(stderr.String(), "[2 nodes] measure:") {
		t.Errorf("no progress lines on stderr:\n%s", stderr.String())
	}

	t.Run("Table", func(t *testing.T) {
		var stdout bytes.Buffer
		if err := run(context.Background(), append([]string{"bench", "--mix", "100:0", "--rounds", "2"}, benchArgs...), nil, &stdout, io.Discard); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		var header, row string
		for i, l := range lines {
			if strings.Contains(l, "read p50") && i+1 < len(lines) {
				header, row = l, lines[i+1]
			}
		}
		if header == "" {
			t.Fatalf("no table header in\n%s", stdout.String())
		}
		// serve's default pool, 100% reads: no writes, no errors.
		f := strings.Fields(row)
		if got, want := len(f), len(strings.Fields(header))-5; got != want { // "ops/s range", "read p50", "write p50", "hit rate", "cache fails" are two words
			t.Fatalf("row %q has %d fields, want %d", row, got, want)
		}
		if got, want := f[0], "2"; got != want {
			t.Errorf("nodes %s, want serve's default %s", got, want)
		}
		if f[9] != "0" || f[15] != "0" {
			t.Errorf("writes/s %s, errors %s; want 0 and 0 in %q", f[9], f[15], row)
		}
		if !strings.HasSuffix(f[13], "%") {
			t.Errorf("hit rate %q, want a percentage", f[13])
		}
		if !strings.Contains(f[4], "-") || !strings.Contains(stdout.String(), "median of 2 rounds") {
			t.Errorf("no ops/s range %q or rounds note in\n%s", f[4], stdout.String())
		}
	})
}

func TestBench_Remote(t *testing.T) {
	s := startServer(t, Config{CacheSize: 2, CacheCapacity: 4, CachePolicy: "rr"})
	key := newUser(t, s, "boss", true)
	t.Setenv("PIXPOOL_API_KEY", key)
	svg := filepath.Join(t.TempDir(), "plot.svg")
	var stdout, stderr bytes.Buffer
	args := append([]string{"bench", "--url", s.url, "--nodes", "1,3", "--policy", "lru", "--json", "--svg", svg}, benchArgs...)
	if err := run(context.Background(), args, nil, &stdout, &stderr); err != nil {
		t.Fatalf("pixpool bench: %v\n%s", err, stderr.String())
	}
	var rep loadgen.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, stdout.String())
	}
	checkReport(t, &rep, 1, 3)
	checkSVG(t, svg)
	if strings.Contains(stdout.String()+stderr.String(), key) {
		t.Error("the API key appears in the output")
	}
	// The pool is as it was, and the keys written are gone.
	st := s.Manager.State()
	if len(st.Nodes) != 2 || st.Policy != "rr" || st.CapacityMB != 4 {
		t.Errorf("pool after bench: %d nodes, %s, %d MB; want 2, rr, 4", len(st.Nodes), st.Policy, st.CapacityMB)
	}
	c := &client{t: t, base: s.url, key: key}
	if b := expect(t, c.do("GET", "/api/v1/images?prefix=pixpool-bench-", nil), 200); strings.Contains(string(b), "pixpool-bench-") {
		t.Errorf("keys left behind: %s", b)
	}

	t.Run("NotAdmin", func(t *testing.T) {
		t.Setenv("PIXPOOL_API_KEY", newUser(t, s, "pleb", false))
		var stdout bytes.Buffer
		err := run(context.Background(), append([]string{"bench", "--url", s.url, "--nodes", "1"}, benchArgs...), nil, &stdout, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "admin") {
			t.Fatalf("bench --nodes with a user's key: %v, want an error about the admin key", err)
		}
		// Without pool changes it runs, without a hit rate.
		stdout.Reset()
		args := append([]string{"bench", "--url", s.url, "--json"}, benchArgs[:len(benchArgs)-2]...) // not --capacity
		if err := run(context.Background(), args, nil, &stdout, io.Discard); err != nil {
			t.Fatal(err)
		}
		var rep loadgen.Report
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Points) != 1 || rep.Points[0].HitRate != nil || len(rep.Points[0].Errors) != 0 {
			t.Fatalf("points %+v, want one without a hit rate or errors", rep.Points)
		}
	})
}
