package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/loadgen"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/service"
)

const benchUsage = `usage: pixpool bench [flags]

Loads a pixpool server with image reads and writes and reports throughput,
latency (p50, p95, p99), the cache's hit rate and errors.

With --url it loads that running server as the owner of --api-key (better
in PIXPOOL_API_KEY than on the command line); its keys --prefix* are
written, overwritten and, unless --keep, deleted at the end. --nodes,
--policy, --capacity and the hit rate need an admin's key (--admin-key, or
--api-key if it is an admin's); the pool is resized through the admin API,
emptied before each point and put back as it was at the end.

Without --url it starts a server of its own in this process, on 127.0.0.1
with a throwaway data folder (removed at the end), one per point of a
--nodes sweep, each started with that many local cache nodes.

The load is closed-loop (see --rate). Each point: the keys are written
(preload), the cache emptied, --warmup of load unmeasured, then --duration
measured.

Flags:`

// benchConfig is the command line of pixpool bench.
type benchConfig struct {
	URL         string
	APIKey      string
	AdminKey    string
	AllowRemote bool
	Size        byteSize
	Format      string
	Mix         string
	Keys        int
	Concurrency int
	Duration    time.Duration
	Warmup      time.Duration
	Rate        float64
	Timeout     time.Duration
	Nodes       string
	Rounds      int
	Policy      string
	Capacity    int
	Prefix      string
	Keep        bool
	JSON        bool
	SVG         string
	CPUProfile  string

	readFraction float64 // from Mix
	nodes        []int   // from Nodes; empty: the pool as it is
}

func (c *benchConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "url", "", "base URL of a running server (e.g. http://127.0.0.1:8080); empty starts one in this process")
	fs.StringVar(&c.APIKey, "api-key", "", "API key with --url (prefer PIXPOOL_API_KEY or PIXPOOL_API_KEY_FILE: a flag is visible to every local user)")
	fs.StringVar(&c.AdminKey, "admin-key", "", "admin API key for --nodes, --policy, --capacity and the hit rate with --url (default: --api-key; prefer PIXPOOL_ADMIN_KEY)")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow a --url whose host is not loopback (every address it resolves to must be loopback otherwise)")
	c.Size = 100 << 10
	fs.Var(&c.Size, "size", "approximate size of each image, e.g. 100KiB, 1MiB")
	fs.StringVar(&c.Format, "format", "jpeg", "image format: jpeg or png (noisy pixels, so they do not compress away)")
	fs.StringVar(&c.Mix, "mix", "50:50", "reads:writes ratio, e.g. 90:10; reads GET a key, writes PUT a new image on one")
	fs.IntVar(&c.Keys, "keys", 200, "distinct keys read and written")
	fs.IntVar(&c.Concurrency, "concurrency", 8, "connections, each with one request at a time")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured time per point")
	fs.DurationVar(&c.Warmup, "warmup", 3*time.Second, "unmeasured load before each point's measurement")
	fs.Float64Var(&c.Rate, "rate", 0, "send this many requests/s in all on a fixed schedule and measure each from when it was due (corrects coordinated omission); 0 sends each connection's next request when the last is answered")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "time limit of one request")
	fs.StringVar(&c.Nodes, "nodes", "", "cache pool sizes to measure, e.g. 1,2,4,8 (empty: the pool as it is; without --url, serve's default)")
	fs.IntVar(&c.Rounds, "rounds", 1, "measure every pool size this many times, in rounds that go through the sizes in turn, and report the median of each (on a busy machine, noise then hits every size alike)")
	fs.StringVar(&c.Policy, "policy", "", "cache replacement policy: lru or rr (empty: as it is; without --url, serve's default)")
	fs.IntVar(&c.Capacity, "capacity", 0, "capacity of each cache node in MB (0: as it is; without --url, serve's default)")
	fs.StringVar(&c.Prefix, "prefix", "pixpool-bench-", "start of the keys written")
	fs.BoolVar(&c.Keep, "keep", false, "with --url: keep the keys written instead of deleting them at the end")
	fs.BoolVar(&c.JSON, "json", false, "print the results as JSON instead of a table")
	fs.StringVar(&c.SVG, "svg", "", "also write a plot of throughput, latency and hit rate against the pool size to this SVG file")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of this process to this file (go tool pprof): with the embedded server, where serving and the load's own work spend the CPU (the cache nodes run as processes of their own)")
}

// parseBenchFlags parses and checks a bench command line.
func parseBenchFlags(args []string, stderr io.Writer) (*benchConfig, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := new(benchConfig)
	c.flags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("bench takes no arguments, got %q", strings.Join(fs.Args(), " "))}
	}
	if err := c.check(); err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// check validates the flags and fills readFraction and nodes.
func (c *benchConfig) check() error {
	var err error
	if c.readFraction, err = parseMix(c.Mix); err != nil {
		return err
	}
	if c.nodes, err = parseNodes(c.Nodes); err != nil {
		return err
	}
	switch {
	case c.Size < 1<<10 || c.Size > 64<<20:
		return fmt.Errorf("--size %d: want 1KiB to 64MiB", c.Size)
	case c.Format != "jpeg" && c.Format != "png":
		return fmt.Errorf("--format %q: want jpeg or png", c.Format)
	case c.Keys < 1 || c.Keys > 1_000_000:
		return fmt.Errorf("--keys %d: want 1 to 1000000", c.Keys)
	case c.Concurrency < 1 || c.Concurrency > 4096:
		return fmt.Errorf("--concurrency %d: want 1 to 4096", c.Concurrency)
	case c.Duration <= 0 || c.Duration > 24*time.Hour:
		return fmt.Errorf("--duration %v: want more than 0 and at most 24h", c.Duration)
	case c.Warmup < 0 || c.Warmup > time.Hour:
		return fmt.Errorf("--warmup %v: want 0 to 1h", c.Warmup)
	case c.Rate < 0:
		return fmt.Errorf("--rate %v: want 0 or more", c.Rate)
	case c.Timeout <= 0:
		return fmt.Errorf("--timeout %v: want more than 0", c.Timeout)
	case c.Rounds < 1 || c.Rounds > 100:
		return fmt.Errorf("--rounds %d: want 1 to 100", c.Rounds)
	case c.Capacity < 0:
		return fmt.Errorf("--capacity %d: want a number of MB, or 0 to leave it", c.Capacity)
	case c.Prefix == "" || strings.ContainsAny(c.Prefix, "/?#"):
		return fmt.Errorf("--prefix %q: want a non-empty key prefix without / ? #", c.Prefix)
	}
	if c.Policy != "" {
		if _, err := manager.ParsePolicy(c.Policy); err != nil {
			return fmt.Errorf("--policy %q: want lru or rr", c.Policy)
		}
		c.Policy = strings.ToLower(c.Policy)
	}
	if c.URL == "" {
		if c.APIKey != "" || c.AdminKey != "" {
			return errors.New("--api-key and --admin-key go with --url; the embedded server makes its own")
		}
		if c.Keep {
			return errors.New("--keep goes with --url; the embedded server's data folder is always removed")
		}
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--url %q: want http://host:port or https://host:port", c.URL)
	}
	c.URL = strings.TrimRight(u.String(), "/")
	if c.APIKey == "" {
		return errors.New("--url needs an API key: set PIXPOOL_API_KEY (or --api-key)")
	}
	if c.AdminKey == "" {
		c.AdminKey = c.APIKey
	}
	return nil
}

// parseMix reads "reads:writes" and returns the share of reads.
func parseMix(s string) (float64, error) {
	r, w, ok := strings.Cut(s, ":")
	reads, err1 := strconv.Atoi(strings.TrimSpace(r))
	writes, err2 := strconv.Atoi(strings.TrimSpace(w))
	if !ok || err1 != nil || err2 != nil || reads < 0 || writes < 0 || reads+writes == 0 {
		return 0, fmt.Errorf("--mix %q: want reads:writes, e.g. 90:10", s)
	}
	return float64(reads) / float64(reads+writes), nil
}

// parseNodes reads a list of pool sizes, "1,2,4,8".
func parseNodes(s string) ([]int, error) {
	var out []int
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for v := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 64 {
			return nil, fmt.Errorf("--nodes %q: want pool sizes from 1 to 64, e.g. 1,2,4,8", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// lookupHost resolves a host name; a variable so tests need no DNS.
var lookupHost = func(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// checkLoopback refuses a URL whose host is not loopback: a literal
// loopback address, or a name every address of which is loopback.
func checkLoopback(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	host := u.Hostname()
	addrs := []netip.Addr{}
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, a)
	} else {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if addrs, err = lookupHost(lctx, host); err != nil {
			return fmt.Errorf("--url: resolve %q: %w", host, err)
		}
		if len(addrs) == 0 {
			return fmt.Errorf("--url: %q resolves to no address", host)
		}
	}
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return fmt.Errorf("--url: %s is not a loopback address (%s resolves to it); pixpool bench loads only this machine unless given --allow-remote", a, host)
		}
	}
	return nil
}

// runBench is pixpool bench.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseBenchFlags(args, stderr)
	if err != nil {
		return err
	}
	if c.URL != "" && !c.AllowRemote {
		if err := checkLoopback(ctx, c.URL); err != nil {
			return usageError{err}
		}
	}
	rep := &loadgen.Report{
		Format: c.Format, Mix: c.Mix, Keys: c.Keys, Concurrency: c.Concurrency,
		WarmupSeconds: c.Warmup.Seconds(), DurationSeconds: c.Duration.Seconds(), Rate: c.Rate, Rounds: c.Rounds,
	}
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	b := &bencher{c: c, stderr: stderr, terminal: isTerminal(stderr), client: benchClient(c.Concurrency, !c.AllowRemote)}
	defer b.client.CloseIdleConnections()
	o := b.options("", "", "")
	rep.Model = o.Model()
	if c.URL == "" {
		rep.Target = "embedded server (in this process, SQLite and a folder in a temporary directory, local cache nodes)"
		err = b.embedded(ctx, rep)
	} else {
		rep.Target = c.URL
		err = b.remote(ctx, rep)
	}
	if err != nil {
		return err
	}
	if c.SVG != "" {
		if err := os.WriteFile(c.SVG, rep.SVG(), 0o644); err != nil {
			return err
		}
	}
	if c.JSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteTable(stdout)
}

// bencher runs the points of one pixpool bench.
type bencher struct {
	c        *benchConfig
	stderr   io.Writer
	terminal bool
	client   *nethttp.Client // the load's and the admin calls'
}

// benchClient returns a client with a connection per worker. With
// loopbackOnly it connects to loopback addresses only: a name checked by
// checkLoopback could resolve elsewhere by the time it is dialled (DNS
// rebinding), so every connection is checked too.
func benchClient(conns int, loopbackOnly bool) *nethttp.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if loopbackOnly {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !ap.Addr().Unmap().IsLoopback() {
				return fmt.Errorf("pixpool bench: refusing to connect to %s, not a loopback address (--allow-remote)", address)
			}
			return nil
		}
	}
	return &nethttp.Client{Transport: &nethttp.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        conns + 2,
		MaxIdleConnsPerHost: conns + 2, // and the admin calls'
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		TLSHandshakeTimeout: 10 * time.Second,
	}}
}

// options returns the load's options for one point.
func (b *bencher) options(label, url, key string) loadgen.Options {
	c := b.c
	o := loadgen.Options{
		URL: url, APIKey: key, Keys: c.Keys, Prefix: c.Prefix, Size: int(c.Size), Format: c.Format,
		ReadFraction: c.readFraction, Concurrency: c.Concurrency, Warmup: c.Warmup, Duration: c.Duration,
		Rate: c.Rate, Timeout: c.Timeout, Client: b.client,
	}
	every := 5 * time.Second
	o.Progress = loadgen.ProgressPrinter(b.stderr, b.terminal, label, every)
	return o
}

// endProgress ends a rewritten progress line.
func (b *bencher) endProgress() {
	if b.terminal {
		fmt.Fprint(b.stderr, "\r\033[K")
	}
}

func pointLabel(nodes int) string {
	if nodes == 0 {
		return "[bench]"
	}
	return fmt.Sprintf("[%d nodes]", nodes)
}

// measure preloads, if asked, empties the cache, and runs one point.
func (b *bencher) measure(ctx context.Context, r *loadgen.Runner, preload bool, clear func(context.Context) error) (loadgen.Point, error) {
	defer b.endProgress()
	if preload {
		if err := r.Preload(ctx); err != nil {
			return loadgen.Point{}, err
		}
	}
	if clear != nil {
		if err := clear(ctx); err != nil {
			return loadgen.Point{}, fmt.Errorf("empty the cache: %w", err)
		}
	}
	res, err := r.Run(ctx)
	if err != nil {
		return loadgen.Point{}, err
	}
	p := res.Point()
	p.Load1 = loadAverage()
	return p, nil
}

// embedded measures each point against a server of its own.
func (b *bencher) embedded(ctx context.Context, rep *loadgen.Report) error {
	return b.sweep(rep, func(_ bool, n int, label string) (loadgen.Point, error) {
		p, imgBytes, err := b.embeddedPoint(ctx, n, label)
		rep.SizeBytes = imgBytes
		return p, err
	})
}

// sweep measures every pool size of --nodes (or the pool as it is), in
// --rounds rounds that each go through the sizes in turn, so noise from
// the machine hits them all alike, and reports the median over the rounds
// of each. point measures one: first is true for the first of all.
func (b *bencher) sweep(rep *loadgen.Report, point func(first bool, n int, label string) (loadgen.Point, error)) error {
	sizes := b.c.nodes
	if len(sizes) == 0 {
		sizes = []int{0}
	}
	rounds := max(b.c.Rounds, 1)
	byN := make([][]loadgen.Point, len(sizes))
	for round := range rounds {
		for i, n := range sizes {
			label := pointLabel(n)
			if rounds > 1 {
				label = fmt.Sprintf("%s round %d/%d", label, round+1, rounds)
			}
			p, err := point(round == 0 && i == 0, n, label)
			if err != nil {
				return err
			}
			byN[i] = append(byN[i], p)
		}
	}
	for _, ps := range byN {
		rep.Points = append(rep.Points, loadgen.Median(ps))
	}
	return nil
}

// embeddedPoint starts a server with n cache nodes (0: serve's default) in
// a temporary data folder, measures one point against it as its admin,
// and removes it all. It also returns the mean size of the images written.
func (b *bencher) embeddedPoint(ctx context.Context, n int, label string) (loadgen.Point, int, error) {
	c := b.c
	dir, err := os.MkdirTemp("", "pixpool-bench-")
	if err != nil {
		return loadgen.Point{}, 0, err
	}
	defer os.RemoveAll(dir)

	var cfg Config
	fs := newFlagSet()
	cfg.flags(fs)
	if err := fs.Parse(nil); err != nil { // serve's defaults, not its environment
		return loadgen.Point{}, 0, err
	}
	cfg.Addr, cfg.Data, cfg.Analyze = "127.0.0.1:0", dir, false
	if n > 0 {
		cfg.CacheSize = n
		cfg.CacheMaxNodes = max(cfg.CacheMaxNodes, n)
	}
	if c.Capacity > 0 {
		cfg.CacheCapacity = c.Capacity
	}
	if c.Policy != "" {
		cfg.CachePolicy = c.Policy
	}
	cfg.MaxUpload = max(cfg.MaxUpload, 2*int64(c.Size))
	cfg.DecodeMemory = decodeMemory(cache.MachineMemory(), goMemLimit())
	pw := make([]byte, 24)
	rand.Read(pw)
	cfg.AdminPassword = hex.EncodeToString(pw)
	m := &Main{Config: cfg, Logger: slog.New(slog.NewTextHandler(b.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := m.Open(sctx); err != nil {
		m.Close()
		return loadgen.Point{}, 0, fmt.Errorf("embedded server: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(sctx) }()
	defer func() { stop(); <-done }()

	admin, err := m.Store.UserByUsername(ctx, service.AdminUsername)
	if err != nil {
		return loadgen.Point{}, 0, fmt.Errorf("embedded server: %w", err)
	}
	_, key, err := m.Accounts.CreateAPIKey(ctx, admin.ID, "pixpool bench")
	if err != nil {
		return loadgen.Point{}, 0, fmt.Errorf("embedded server: %w", err)
	}
	o := b.options(label, m.URL(), key)
	var clear func(context.Context) error
	if m.Pool != nil {
		o.Counters = func(context.Context) (loadgen.CacheCounters, error) {
			ct := m.Pool.Counters()
			return loadgen.CacheCounters{Hits: ct.Hits, Misses: ct.Misses, Failures: ct.Failures}, nil
		}
		clear = m.Pool.Flush
	}
	r, err := loadgen.New(o)
	if err != nil {
		return loadgen.Point{}, 0, err
	}
	defer r.Close()
	p, err := b.measure(ctx, r, true, clear)
	if err != nil {
		return loadgen.Point{}, 0, err
	}
	if m.Manager != nil {
		st := m.Manager.State()
		p.Nodes, p.Policy, p.CapacityMB = len(st.Nodes), st.Policy, st.CapacityMB
	}
	return p, r.ImageBytes(), nil
}

// remotePool is the part of GET /api/v1/admin/pool that bench reads.
type remotePool struct {
	Mode       string `json:"mode"`
	CapacityMB int    `json:"capacity_mb"`
	Policy     string `json:"policy"`
	Size       int    `json:"size"`
	Resizable  bool   `json:"resizable"`
	Nodes      []struct {
		ID     string `json:"id"`
		Hits   int64  `json:"hits"`
		Misses int64  `json:"misses"`
	} `json:"nodes"`
}

// admin calls the admin API of c.URL with the admin key; out, if not nil,
// receives the JSON answer.
func (b *bencher) admin(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := nethttp.NewRequestWithContext(ctx, method, b.c.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.c.AdminKey)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(data, &e)
		msg := e.Error.Message
		if resp.StatusCode == nethttp.StatusNotFound && strings.HasPrefix(path, "/api/v1/admin/") {
			msg = "not found: is the key an admin's? (--admin-key)"
		}
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, msg)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (b *bencher) pool(ctx context.Context) (*remotePool, error) {
	var p remotePool
	if err := b.admin(ctx, nethttp.MethodGet, "/api/v1/admin/pool", nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// counters sums the nodes' hits and misses. The admin API does not show
// the server's failed cache operations.
func (b *bencher) counters(ctx context.Context) (loadgen.CacheCounters, error) {
	p, err := b.pool(ctx)
	if err != nil {
		return loadgen.CacheCounters{}, err
	}
	c := loadgen.CacheCounters{Failures: -1}
	for _, n := range p.Nodes {
		c.Hits, c.Misses = c.Hits+n.Hits, c.Misses+n.Misses
	}
	return c, nil
}

// remote measures each point against the running server at c.URL.
func (b *bencher) remote(ctx context.Context, rep *loadgen.Report) (err error) {
	c := b.c
	changes := len(c.nodes) > 0 || c.Policy != "" || c.Capacity > 0
	var r *loadgen.Runner // the first point's, which wrote the keys
	before, perr := b.pool(ctx)
	switch {
	case perr != nil && changes:
		return fmt.Errorf("--nodes, --policy and --capacity need the admin API: %w", perr)
	case perr != nil:
		fmt.Fprintf(b.stderr, "pixpool bench: no hit rate without the admin API (%v)\n", perr)
	case len(c.nodes) > 0 && !before.Resizable:
		return errors.New("--nodes: the server's pool is a fixed list of nodes (serve --cache-nodes); it cannot be resized")
	case len(c.nodes) > 0 && before.Mode != manager.ModeManual:
		fmt.Fprintf(b.stderr, "pixpool bench: the pool is in %s mode: the auto-scaler may resize it during the run\n", before.Mode)
	}
	if changes {
		// Put the pool back as it was, even after a failure or ^C.
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if len(c.nodes) > 0 {
				if rerr := b.admin(rctx, nethttp.MethodPut, "/api/v1/admin/pool/size", map[string]int{"nodes": before.Size}, nil); rerr != nil {
					err = errors.Join(err, fmt.Errorf("restore the pool size: %w", rerr))
				}
			}
			if c.Policy != "" || c.Capacity > 0 {
				if rerr := b.admin(rctx, nethttp.MethodPut, "/api/v1/admin/cache", map[string]any{"capacity_mb": before.CapacityMB, "policy": before.Policy}, nil); rerr != nil {
					err = errors.Join(err, fmt.Errorf("restore the cache settings: %w", rerr))
				}
			}
		}()
	}
	if !c.Keep {
		defer func() {
			if r == nil {
				return
			}
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			defer cancel()
			if derr := r.Delete(dctx); derr != nil {
				err = errors.Join(err, fmt.Errorf("delete the keys written: %w", derr))
			}
		}()
	}
	if c.Policy != "" || c.Capacity > 0 {
		set := map[string]any{}
		if c.Policy != "" {
			set["policy"] = c.Policy
		}
		if c.Capacity > 0 {
			set["capacity_mb"] = c.Capacity
		}
		if err := b.admin(ctx, nethttp.MethodPut, "/api/v1/admin/cache", set, nil); err != nil {
			return err
		}
	}
	return b.sweep(rep, func(first bool, n int, label string) (loadgen.Point, error) {
		if n > 0 {
			if err := b.admin(ctx, nethttp.MethodPut, "/api/v1/admin/pool/size", map[string]int{"nodes": n}, nil); err != nil {
				return loadgen.Point{}, err
			}
		}
		o := b.options(label, c.URL, c.APIKey)
		var clear func(context.Context) error
		if perr == nil {
			o.Counters = b.counters
			clear = func(ctx context.Context) error {
				return b.admin(ctx, nethttp.MethodPost, "/api/v1/admin/cache/clear", nil, nil)
			}
		}
		pr, err := loadgen.New(o)
		if err != nil {
			return loadgen.Point{}, err
		}
		defer pr.Close()
		if r == nil {
			r = pr
		}
		p, err := b.measure(ctx, pr, first, clear)
		if err != nil {
			return loadgen.Point{}, err
		}
		if perr == nil {
			if st, err := b.pool(ctx); err == nil {
				p.Nodes, p.Policy, p.CapacityMB = st.Size, st.Policy, st.CapacityMB
			}
		}
		rep.SizeBytes = pr.ImageBytes()
		return p, nil
	})
}

// isTerminal reports whether w is a terminal, where progress rewrites one
// line.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// loadAverage is the machine's 1-minute load average, or 0 where unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
