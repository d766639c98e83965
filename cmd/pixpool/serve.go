package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/backup"
	blobfs "github.com/pixpool/pixpool/blob/fs"
	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/http"
	"github.com/pixpool/pixpool/imaging"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pool"
	"github.com/pixpool/pixpool/service"
	"github.com/pixpool/pixpool/store/sqlite"
)

// Config is what `pixpool serve` runs with; zero values are the defaults
// documented on the flags.
type Config struct {
	Addr           string
	Data           string
	DB             string // "" is SQLite in Data
	Blob           string // "" is a folder in Data
	S3AccessKey    string
	S3SecretKey    string
	MaxUpload      int64
	MaxPixels      int
	DecodeMemory   int64 // 0: decodeMemory's choice for this machine
	VariantSizes   []pixpool.VariantSize
	CompatUser     string
	CompatAdmin    bool
	AdminPassword  string
	SessionTTL     time.Duration
	SecureCookies  bool
	TrustProxy     bool   // X-Forwarded-For from http.LocalProxies
	TrustedProxies string // more proxy ranges, CIDR,...
	Signup         string // "" keeps the stored sign-up mode
	TLSCert        string
	TLSKey         string
	SweepGrace     time.Duration
	LogLevel       slog.Level
	LogJSON        bool
	BodyIdle       time.Duration // 0 is http.DefaultBodyIdleTimeout
	Hosts          string        // names the server answers to, name,...; "" any

	CacheNodes    string // existing nodes, host:port,...
	CacheAuthFile string // credentials of CacheNodes (memcached -Y file)
	CacheSize     int    // local nodes of a new pool; 0: no cache
	CacheCapacity int    // MB per node
	CachePolicy   string
	CacheMaxNodes int
	HotCache      int64 // bytes of the pool client's hot tier; 0: none

	Analyze           bool
	RecognitionDirs   []string // folders that may hold recognition/ (see recognitionDirs), tried in order; nil is Data alone
	AnalyzeWorkers    int
	AnalyzeTimeout    time.Duration
	StatsInterval     time.Duration
	StatsRetention    time.Duration
	AutoscaleInterval time.Duration

	MetricsAddr string // serves /metrics without auth; "" is off

	acmeConfig // --domain: automatic HTTPS (acme.go)
	kubeConfig // --cache-provider kubernetes (kube.go)
}

func (c *Config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "localhost:8080", "address to listen on (host:port; :0 picks a free port)")
	fs.StringVar(&c.Data, "data", "./pixpool-data", "folder holding the SQLite database and the image files")
	fs.StringVar(&c.Blob, "blob", "", "image bytes: empty for a folder in --data, or an S3-compatible bucket (s3://bucket/prefix?endpoint=http://host:9000&region=us-east-1; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&c.S3AccessKey, "s3-access-key", "", "S3 access key for --blob (default: AWS_ACCESS_KEY_ID)")
	fs.StringVar(&c.S3SecretKey, "s3-secret-key", "", "S3 secret key for --blob (default: AWS_SECRET_ACCESS_KEY; prefer PIXPOOL_S3_SECRET_KEY or PIXPOOL_S3_SECRET_KEY_FILE to a flag, which every local user can read)")
	fs.StringVar(&c.DB, "db", "", "metadata store: empty for SQLite in --data, or a PostgreSQL URL (postgres://user@host:5432/db?pool_max_conns=10; the password from PGPASSWORD or ~/.pgpass, or the URL from PIXPOOL_DB_FILE, never on the command line)")
	c.MaxUpload = service.DefaultMaxBytes
	fs.Var((*byteSize)(&c.MaxUpload), "max-upload", "largest image accepted, e.g. 20MiB (larger uploads get 413)")
	fs.DurationVar(&c.BodyIdle, "body-idle-timeout", http.DefaultBodyIdleTimeout, "close the connection of an upload that sends nothing for this long (a slow upload that keeps sending may take as long as it needs)")
	fs.IntVar(&c.MaxPixels, "max-pixels", imaging.DefaultMaxPixels, "largest image accepted, in pixels (width×height); larger ones get 400 before they are decoded")
	c.VariantSizes = pixpool.DefaultVariantSizes
	fs.Var((*variantSizes)(&c.VariantSizes), "variant-sizes", "sizes of image variants (GET /api/v1/images/KEY?w=&h=) that anyone may ask for, comma-separated: a width such as 640 allows w=640, h=640 and the square w=640&h=640; a box such as 1200x630 allows exactly it; other sizes need a signed URL (empty: all do)")
	fs.Var((*byteSize)(&c.DecodeMemory), "decode-memory", "memory for images being decoded at once (uploads, thumbnails, analysis), e.g. 768MiB; a decode waits up to 5 s for room, then gets 503 with Retry-After (default: 768MiB, or a quarter of the machine's or container's memory, or GOMEMLIMIT less 512MiB, if less; at least 256MiB)")
	fs.StringVar(&c.CompatUser, "compat-user", "", "account that credential-less /api/... calls act as, with its rights but not its admin powers: ANYONE who can reach --addr may upload, read and delete its images (off when empty)")
	fs.BoolVar(&c.CompatAdmin, "compat-admin", false, "also give credential-less /api/... calls the admin powers of --compat-user, which must be an admin: ANYONE who can reach --addr may then reconfigure the cache pool and delete EVERY user's images")
	fs.DurationVar(&c.SessionTTL, "session-ttl", 30*24*time.Hour, "how long a login lasts")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", false, "mark cookies Secure (set when a proxy terminates TLS)")
	fs.BoolVar(&c.TrustProxy, "trust-proxy", false, "behind a reverse proxy on a loopback or private address (127.0.0.0/8, ::1, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7): take the client address from X-Forwarded-For, the right-most entry not from such an address")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "proxies (CIDR ranges or addresses, comma-separated) whose X-Forwarded-For is believed: the client is the right-most entry not in them (adds to --trust-proxy's ranges)")
	fs.StringVar(&c.Hosts, "host", "", "host names (comma-separated) browsers reach the server by, e.g. photos.example.com: requests for any other name, except localhost and IP addresses, get 403, which stops DNS rebinding; set it when serving under a domain (empty answers every name, but credential-less --compat-user calls only for localhost and IP addresses)")
	fs.StringVar(&c.Signup, "signup", "", "who may sign up: open, invite (with an invite code from an admin) or closed; stored at start, replacing the portal's choice (empty keeps the stored mode, open if never set)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "certificate file (PEM) to serve HTTPS with")
	fs.StringVar(&c.TLSKey, "tls-key", "", "private key file (PEM) of --tls-cert")
	fs.DurationVar(&c.SweepGrace, "sweep-grace", 10*time.Minute, "age after which unreferenced image files are removed")
	fs.StringVar(&c.CacheNodes, "cache-nodes", "", "use these existing cache nodes (host:port,...; stock memcached works) instead of starting local ones")
	fs.StringVar(&c.CacheAuthFile, "cache-auth-file", "", "user:password file (memcached's -Y format; the first line is used) that the nodes of --cache-nodes or of --cache-provider kubernetes require; or give user:password in "+cacheAuthEnv+". serve's own local nodes always require the pool's secret")
	fs.IntVar(&c.CacheSize, "cache-size", manager.DefaultNodes, "local cache nodes of a new pool (a restart keeps the pool's size); 0 runs without a cache")
	fs.IntVar(&c.CacheCapacity, "cache-capacity", manager.DefaultCapacityMB, "capacity of each cache node of a new pool, in MB")
	fs.StringVar(&c.CachePolicy, "cache-policy", manager.DefaultPolicy, "replacement policy of a new pool: lru or rr")
	c.HotCache = DefaultHotCache
	fs.Var((*sizeOrOff)(&c.HotCache), "hot-cache", "memory for the hot tier: cache hits kept in this process and served after their node confirms they are current (an exact check that moves a few bytes instead of the image), e.g. 64MiB; 0 turns it off")
	fs.IntVar(&c.CacheMaxNodes, "cache-max-nodes", manager.DefaultMaxNodes, "largest pool size allowed")
	fs.BoolVar(&c.Analyze, "analyze", true, "analyse uploads for labels and text in the background (needs scripts/setup-recognition.sh, see --recognition-dir, and tesseract)")
	fs.IntVar(&c.AnalyzeWorkers, "analyze-workers", 1, "images analysed at once, each on one core at a lower priority than serving")
	fs.DurationVar(&c.AnalyzeTimeout, "analyze-timeout", 2*time.Minute, "time limit per image (pauses for serving left out, up to 1.75 times it in all); a crashed server's analyses are taken up again twice it after they began")
	fs.DurationVar(&c.StatsInterval, "stats-interval", 5*time.Second, "how often the cache nodes' stats are sampled")
	fs.DurationVar(&c.StatsRetention, "stats-retention", 24*time.Hour, "how long stats samples are kept")
	fs.DurationVar(&c.AutoscaleInterval, "autoscale-interval", time.Minute, "how often the auto-scaler decides (in automatic mode)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "also serve Prometheus /metrics WITHOUT authentication on this address; use a private one, e.g. 127.0.0.1:9090 (off when empty; admins can always scrape /metrics on --addr with an API key)")
	fs.TextVar(&c.LogLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	fs.BoolVar(&c.LogJSON, "log-json", false, "log JSON lines instead of text")
	c.acmeConfig.flags(fs)
	c.kubeConfig.flags(fs)
}

// DefaultHotCache is --hot-cache's default: the pool client's hot tier.
const DefaultHotCache = 64 << 20

// Main is a running `pixpool serve`: open it, then Run until the context
// ends. Tests run it on 127.0.0.1:0 with a temp data folder.
type Main struct {
	Config Config
	Logger *slog.Logger
	// SetupURL is set by Open when no admin exists and no admin password
	// was given: the one-time link that sets the admin password.
	SetupURL string

	Store    pixpool.Store
	Blobs    pixpool.BlobStore
	Accounts *service.Accounts
	Images   *service.Images
	HTTP     *http.Server
	Pool     *pool.Client     // nil without a cache
	Manager  *manager.Manager // nil without a cache
	Nodes    *manager.LocalProvider
	Analyzer *service.Analyzer  // nil with --analyze=false
	Backups  *backup.Service    // scheduled backups, and the portal's, API's and restores
	Stats    *manager.Collector // nil without a cache
	Scaler   *autoscale.Scaler  // nil without a cache

	ln     net.Listener
	server *nethttp.Server
	holder string // this process's name in the pool lease
	// crash, in tests, keeps the lease at shutdown, as a process that dies
	// would, so another replica must wait for it to run out.
	crash bool
	// beforeFollow, in tests, runs before every poll of the pool's state
	// a follower makes: it can hold the polls up.
	beforeFollow func()
	// connState, if set, observes connections (tests wait on it).
	connState func(net.Conn, nethttp.ConnState)

	acme *acmeServer // --domain's certificates and plain HTTP; nil without
	// lambda: Lambda mode (lambda.go), which sweeps in its scheduled
	// rounds, not at every start.
	lambda bool
}

// Open opens the stores, makes sure an admin can exist and starts
// listening (but not serving).
func (m *Main) Open(ctx context.Context) (err error) {
	c := &m.Config
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	if c.Data == "" {
		return errors.New("--data must name a folder")
	}
	if err := checkSignup(c.Signup); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Data, 0o750); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	if m.Store, err = openDB(ctx, c.Data, c.DB); err != nil {
		return err
	}
	if r, ok := m.Store.(*sqlite.Store); ok {
		// Room for deletes on a full disk; see sqlite.Store.KeepReserve.
		r.KeepReserve(sqlite.DefaultReserveBytes)
		if r.LowOnSpace() {
			m.Logger.Warn("storage is full: serving reads, and deletes to free space; uploads get 507 until there is room", "data", c.Data)
		}
	}
	if m.Blobs, err = openBlobs(ctx, c.Data, c.Blob, s3Keys{c.S3AccessKey, c.S3SecretKey}); err != nil {
		return err
	}
	proxies, err := trustedProxies(c.TrustProxy, c.TrustedProxies)
	if err != nil {
		return err
	}
	if c.TrustProxy && c.TrustedProxies == "" {
		m.Logger.Warn("--trust-proxy believes X-Forwarded-For from every loopback and private address: a client that reaches the server directly from one can pick the address its logins are paced by; name your proxies with --trusted-proxies instead")
	}
	m.Accounts = &service.Accounts{Store: m.Store, Logger: m.Logger, SessionTTL: c.SessionTTL}
	if c.Signup != "" {
		switch err := m.Accounts.SetSignupMode(ctx, c.Signup, "--signup"); pixpool.ErrorCode(err) {
		case "":
		case pixpool.ESTORAGEFULL:
			// Starting on a full disk must work (to free space through
			// the portal): keep the stored mode, and say so.
			mode, merr := m.Accounts.SignupMode(ctx)
			if merr != nil {
				return fmt.Errorf("--signup %q: %w", c.Signup, merr)
			}
			m.Logger.Warn("storage is full: --signup not stored; sign-up stays as stored until there is room and a restart", "signup", c.Signup, "stored", mode, "err", err)
		default:
			return fmt.Errorf("--signup %q: %w", c.Signup, err)
		}
	}
	hosts, err := hostNames(c.Hosts)
	if err != nil {
		return err
	}
	budget := &imaging.Budget{Bytes: cmp.Or(c.DecodeMemory, decodeMemory(cache.MachineMemory(), goMemLimit()))}
	m.Images = &service.Images{Store: m.Store, Blobs: m.Blobs, Policies: &service.Policies{Store: m.Store}, Logger: m.Logger, MaxBytes: c.MaxUpload, MaxPixels: c.MaxPixels, Budget: budget}
	m.Images.VariantSizes = c.VariantSizes
	m.HTTP = &http.Server{
		Accounts:       m.Accounts,
		Images:         m.Images,
		Store:          m.Store,
		Logger:         m.Logger,
		CompatUser:     c.CompatUser,
		CompatAdmin:    c.CompatAdmin,
		SecureCookies:  c.SecureCookies,
		TrustedProxies: proxies,
		Hosts:          hosts,

		BodyIdleTimeout: c.BodyIdle,
	}

	if err := m.openPool(ctx); err != nil {
		return err
	}
	tmp, err := backupTempDir(c.Data, m.Logger)
	if err != nil {
		return err
	}
	m.Backups = &backup.Service{Store: m.Store, Blobs: m.Blobs, TempDir: tmp, Logger: m.Logger}
	if m.Manager != nil {
		m.Backups.AfterRestore = m.Manager.AfterRestore
	}
	m.HTTP.Backups = m.Backups
	// Background work (thumbnails, analysis) waits while requests are
	// being served.
	serving := new(service.Activity)
	m.HTTP.Activity = serving
	m.Images.Serving = serving
	if c.Analyze {
		mk := newAnalyzer
		if m.lambda {
			mk = lazyAnalyzer // the models load in the first scheduled round
		}
		m.Analyzer = mk(m.Store, m.Blobs, c, serving, m.Logger)
		m.Analyzer.MaxPixels, m.Analyzer.Budget = c.MaxPixels, budget
		m.Images.Stored = m.Analyzer.Enqueue
		m.HTTP.Analyzer = m.Analyzer
	} else {
		m.Logger.Info("recognition off (--analyze=false)")
	}

	// Leftovers of a crash: temporary files and bytes no row points at.
	// Housekeeping, so a failure does not stop the start.
	if fs, ok := m.Blobs.(*blobfs.Store); ok {
		if _, err := fs.SweepTemp(0); err != nil {
			m.Logger.Warn("sweep temporary files", "err", err)
		}
	}
	// In Lambda mode every cold start would list the bucket: its
	// scheduled rounds sweep instead.
	if !m.lambda {
		if _, err := m.Images.SweepOrphans(ctx, c.SweepGrace); err != nil {
			m.Logger.Warn("sweep orphans", "err", err)
		}
	}

	if m.ln, err = net.Listen("tcp", c.Addr); err != nil {
		return listenError("--addr", err, "stop it, or give another --addr")
	}
	if err := m.openACME(ctx); err != nil {
		return err
	}
	token, expires, err := m.Accounts.Bootstrap(ctx, c.AdminPassword)
	if pixpool.ErrorCode(err) == pixpool.ESTORAGEFULL {
		m.Logger.Warn("storage is full: no admin account or setup link could be saved; free space and restart", "err", err)
		token, expires, err = "", time.Time{}, nil
	}
	if err != nil {
		return fmt.Errorf("admin bootstrap: %w", err)
	}
	if token != "" {
		// The link goes to the terminal (runServe prints it), never into
		// the log, which may be shipped elsewhere.
		m.SetupURL = m.URL() + "/setup?token=" + token
		m.Logger.Warn("no admin account yet: open the one-time setup link printed on the terminal, or restart to print a new one",
			"expires", expires.Format(time.RFC3339))
	}
	return m.checkCompat(ctx)
}

// checkCompat checks --compat-user and --compat-admin and warns loudly of
// what they open to anonymous callers. --compat-admin needs --compat-user
// naming an enabled admin account that exists now; --compat-user alone
// may name an account created later (calls get 401 until then).
func (m *Main) checkCompat(ctx context.Context) error {
	c := &m.Config
	if c.CompatUser == "" {
		if c.CompatAdmin {
			return errors.New("--compat-admin needs --compat-user naming the admin account that credential-less /api calls act as")
		}
		return nil
	}
	u, err := m.Store.UserByUsername(ctx, c.CompatUser)
	switch {
	case pixpool.ErrorCode(err) == pixpool.ENOTFOUND:
		if c.CompatAdmin {
			return fmt.Errorf("--compat-admin: the account %q does not exist; create it first (pixpool user create --admin %s)", c.CompatUser, c.CompatUser)
		}
		m.Logger.Warn("--compat-user names no account yet: credential-less /api calls get 401 until it is created", "account", c.CompatUser)
	case err != nil:
		return fmt.Errorf("--compat-user: %w", err)
	case c.CompatAdmin && (!u.Admin || u.Disabled):
		return fmt.Errorf("--compat-admin: the account %q is not an enabled admin; anonymous calls can only be given an admin's powers", c.CompatUser)
	}
	url := m.URL() + "/api/"
	if c.CompatAdmin {
		m.Logger.Warn("COMPAT ADMIN MODE: anyone who can reach the server, without a password or API key, acts as this ADMIN account on /api/...: "+
			"uploads, reads and deletes its images, reads the cache pool's stats, resizes and reconfigures the pool (configure_cache), "+
			"and deletes EVERY user's images (delete_all); use it only on a private instance",
			"account", c.CompatUser, "url", url)
		return nil
	}
	m.Logger.Warn("COMPAT MODE: anyone who can reach the server, without a password or API key, acts as this account on /api/...: "+
		"uploads, lists, reads and deletes its images (delete_all deletes its own); the pool endpoints stay closed to them without --compat-admin; "+
		"use it only on a private instance",
		"account", c.CompatUser, "url", url)
	return nil
}

// hostNames reads --host: names, each perhaps with a port (ignored), not
// URLs.
func hostNames(list string) ([]string, error) {
	var out []string
	for v := range strings.SplitSeq(list, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		if strings.ContainsAny(v, "/@ ") || strings.HasPrefix(v, ":") {
			return nil, fmt.Errorf("--host: %q is not a host name (give photos.example.com, not a URL)", v)
		}
		out = append(out, v)
	}
	return out, nil
}

// trustedProxies reads --trust-proxy and --trusted-proxies.
func trustedProxies(local bool, list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	if local {
		out = append(out, http.LocalProxies...)
	}
	for v := range strings.SplitSeq(list, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("--trusted-proxies: %q is neither an address nor a CIDR range", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// openPool starts the cache pool: local nodes by default, or the given
// existing ones; the pool's state in the store, if any, wins over the
// flags, which only shape a new pool.
func (m *Main) openPool(ctx context.Context) error {
	c := &m.Config
	var static []string
	for a := range strings.SplitSeq(c.CacheNodes, ",") {
		if a = strings.TrimSpace(a); a != "" {
			static = append(static, a)
		}
	}
	if len(static) == 0 && c.CacheSize <= 0 {
		m.Logger.Info("running without a cache pool (--cache-size 0)")
		return nil
	}
	policy, err := manager.ParsePolicy(cmp.Or(c.CachePolicy, manager.DefaultPolicy))
	if err != nil {
		return errors.New(pixpool.ErrorMessage(err))
	}
	m.Pool = &pool.Client{Logger: m.Logger, HotBytes: c.HotCache}
	cred, err := staticCacheAuth(c.CacheAuthFile)
	switch {
	case err != nil:
		return err
	case cred != nil && len(static) == 0 && c.CacheProvider != "kubernetes":
		m.Logger.Warn(errCacheAuthUnused.Error())
	case cred != nil:
		m.Pool.SetAuth(cred.User, cred.Password)
	case len(static) > 0:
		m.Logger.Warn("the nodes of --cache-nodes are used without authentication: anyone who can reach them can read and change every cached image; start them with memcached -Y (or pixpool cachenode --auth-file) and give serve --cache-auth-file")
	}
	m.Manager = &manager.Manager{
		Store: m.Store, Pool: m.Pool, Static: static, Logger: m.Logger,
		Nodes: c.CacheSize, CapacityMB: c.CacheCapacity, Policy: policy, MaxNodes: c.CacheMaxNodes,
		StatsInterval: c.StatsInterval,
	}
	if err := c.validProvider(static); err != nil {
		return err
	}
	if c.CacheProvider == "kubernetes" {
		kp, err := c.kubeProvider(ctx, m, cred)
		if err != nil {
			return err
		}
		m.Manager.Provider, m.Manager.Secret = kp, cred.Password
	} else if len(static) == 0 {
		m.Nodes = &manager.LocalProvider{Logger: m.Logger}
		m.Manager.Provider = m.Nodes
		// The local nodes share this machine's memory.
		if mem := int(cache.MachineMemory() >> 20); mem > 0 {
			m.Manager.MaxPoolMB = mem
			if c.CacheSize*c.CacheCapacity > mem {
				return fmt.Errorf("--cache-size %d × --cache-capacity %d MB is more than this machine's memory (%d MB)", c.CacheSize, c.CacheCapacity, mem)
			}
		}
	}
	m.holder = newHolder()
	// Followers report the layout they adopted, and a resize waits for
	// every live one (manager/replicas.go); one whose polls lag trusts
	// its layout no longer and confirms it before writing.
	m.Manager.ReplicaID = m.holder
	m.Pool.Refresh = m.Manager.Follow
	m.Manager.Fence = func(ctx context.Context) error {
		won, err := m.Store.AcquireLease(ctx, leaseName, m.holder, leaseTTL)
		if err == nil && !won {
			err = pixpool.Errorf(pixpool.EUNAVAILABLE, "This server no longer runs the cache pool; try again.")
		}
		return err
	}
	won, err := m.acquireLease(ctx)
	if pixpool.ErrorCode(err) == pixpool.ESTORAGEFULL {
		// Serve reads from the stores; lead() takes the lease once deletes
		// have freed space.
		m.Logger.Warn("storage is full: starting without leading the cache pool; uploads get 507 until images are deleted", "err", err)
		won, err = false, nil
	}
	if err != nil {
		return fmt.Errorf("cache pool lease: %w", err)
	}
	if won {
		if err := m.Manager.Open(ctx); err != nil {
			return fmt.Errorf("cache pool: %w", err)
		}
	} else if err := m.Manager.Follow(ctx); err != nil {
		return fmt.Errorf("cache pool: %w", err)
	}
	m.Images.Cache = m.Pool
	m.HTTP.Manager = m.Manager
	m.Stats = &manager.Collector{Store: m.Store, Meter: m.Manager.Meter(), Interval: c.StatsInterval, Retention: c.StatsRetention, Logger: m.Logger}
	m.Scaler = m.Manager.Scaler()
	m.Scaler.Interval = c.AutoscaleInterval
	st := m.Manager.State()
	m.Logger.Info("cache pool ready", "nodes", len(st.Nodes), "capacity_mb", st.CapacityMB, "policy", st.Policy,
		"epoch", st.Epoch, "leader", m.Manager.Leading())
	return nil
}

// URL is the base URL the server listens on.
func (m *Main) URL() string {
	if u := m.acmeURL(); u != "" {
		return u
	}
	scheme := "http"
	if m.Config.TLSCert != "" {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(m.ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Run serves until ctx ends, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to 30 s) and closes the
// stores.
func (m *Main) Run(ctx context.Context) error {
	m.server = &nethttp.Server{
		Handler:           hsts(m.HTTP.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnState:         m.connState,
	}
	stopMetrics, merr := m.serveMetrics()
	if merr != nil {
		m.closeStores()
		return merr
	}
	// Sessions and API keys are trusted from memory while this polls the
	// store for other replicas' changes to them (service/principals.go).
	go m.Accounts.WatchAuth(ctx)
	errc := make(chan error, 1)
	go func() {
		if m.acme != nil {
			errc <- m.serveACME()
		} else if m.Config.TLSCert != "" {
			errc <- m.server.ServeTLS(m.ln, m.Config.TLSCert, m.Config.TLSKey)
		} else {
			errc <- m.server.Serve(m.ln)
		}
	}()
	go m.housekeeping(ctx)
	if m.Manager != nil {
		go m.lead(ctx)
	}
	if m.Analyzer != nil {
		go m.Analyzer.Run(ctx)
	}
	// Every replica runs the backup scheduler, not only the pool's leader:
	// the backup lease in the store lets one of them take each day's
	// backup, as leadership would, and works without a cache pool
	// (--cache-size 0) too.
	go m.Backups.Run(ctx, 0)
	m.Logger.Info("pixpool serving", "url", m.URL(), "data", m.Config.Data, "version", pixpool.Version)

	select {
	case err := <-errc:
		stopMetrics()
		m.closeStores()
		return err
	case <-ctx.Done():
	}
	m.Logger.Info("shutting down")
	stopMetrics()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := m.server.Shutdown(sctx)
	m.closeStores()
	return err
}

// serveMetrics serves /metrics on --metrics-addr, if set, without
// authentication: that address should be private (loopback or an internal
// network). stop closes the listener.
func (m *Main) serveMetrics() (stop func(), err error) {
	if m.Config.MetricsAddr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", m.Config.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := nethttp.NewServeMux()
	mux.Handle("GET /metrics", m.HTTP.MetricsHandler())
	srv := &nethttp.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelDebug),
	}
	go srv.Serve(ln)
	m.Logger.Info("serving metrics without authentication", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close() }, nil
}

func (m *Main) closeStores() {
	m.stopACME()
	if m.Images != nil {
		// Before the stores close: it stops the thumbnail under way.
		m.Images.Shutdown()
	}
	if m.Manager != nil {
		leading := m.Manager.Leading()
		m.Manager.Close()
		if leading && !m.crash { // let another replica take over at once
			m.Store.ReleaseLease(context.Background(), leaseName, m.holder)
		}
	}
	if m.Pool != nil {
		m.Pool.Close()
	}
	if m.Store != nil {
		if err := m.Store.Close(); err != nil {
			m.Logger.Error("close store", "err", err)
		}
	}
}

// Close releases what Open took, for a Main that never ran.
func (m *Main) Close() error {
	if m.ln != nil {
		m.ln.Close()
	}
	m.closeStores()
	return nil
}

// housekeeping removes expired sessions, old login failures and orphaned
// image files every hour.
func (m *Main) housekeeping(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if n, err := m.Store.DeleteExpiredSessions(ctx, now); err != nil {
			m.Logger.Warn("sweep sessions", "err", err)
		} else if n > 0 {
			m.Logger.Info("expired sessions removed", "count", n)
		}
		if err := m.Store.ClearAttempts(ctx, "", now.Add(-24*time.Hour)); err != nil {
			m.Logger.Warn("sweep login and sign-up attempts", "err", err)
		}
		if _, err := m.Images.SweepOrphans(ctx, m.Config.SweepGrace); err != nil {
			m.Logger.Warn("sweep orphans", "err", err)
		}
	}
}

func newLogger(w io.Writer, c *Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// checkSignup checks --signup before anything is opened, so a mistyped
// mode is told as such, and a store that cannot take a good one is not.
func checkSignup(mode string) error {
	if mode == "" {
		return nil
	}
	if err := service.ValidateSignupMode(mode); err != nil {
		return fmt.Errorf("--signup %q: want open, invite or closed", mode)
	}
	return nil
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var m Main
	m.Config.flags(fs)
	recDir := recognitionFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: pixpool serve [flags]\n\nEvery flag can also be set by PIXPOOL_<NAME> (e.g. PIXPOOL_MAX_UPLOAD=50MiB).\nPIXPOOL_ADMIN_PASSWORD, if set, creates the \"admin\" account at first start.\nWith AWS_LAMBDA_RUNTIME_API set (on AWS Lambda, the binary deployed as bootstrap), serve answers\nthe function's invocations instead of listening; it then needs a PostgreSQL --db and an S3 --blob.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m.Config.RecognitionDirs = recognitionDirs(m.Config.Data, *recDir)
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("serve takes no arguments, got %q", strings.Join(fs.Args(), " "))}
	}
	if err := checkSignup(m.Config.Signup); err != nil {
		return usageError{err}
	}
	if (m.Config.TLSCert == "") != (m.Config.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if err := checkACMEFlags(fs, &m.Config); err != nil {
		return usageError{err}
	}
	adminPassword, _, err := lookupEnv("PIXPOOL_ADMIN_PASSWORD")
	if err != nil {
		return err
	}
	m.Config.AdminPassword = adminPassword
	m.Logger = newLogger(stderr, &m.Config)
	slog.SetDefault(m.Logger)
	if inLambda() {
		return runLambda(ctx, &m, flagsGiven(fs), *recDir)
	}
	if m.Config.DecodeMemory == 0 {
		m.Config.DecodeMemory = decodeMemory(cache.MachineMemory(), goMemLimit())
	}
	setMemoryLimit(m.Config.DecodeMemory, m.Logger)
	setGCPercent()
	if err := m.Open(ctx); err != nil {
		m.Close()
		return err
	}
	if m.Analyzer != nil {
		// Each analysis worker computes on a niced thread of its own; give
		// it a scheduler slot of its own too, so it never holds one of the
		// slots serving runs on.
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + max(m.Analyzer.Workers, 1))
	}
	if m.SetupURL != "" {
		fmt.Fprintf(stderr, "\n  No admin account yet. Open this one-time link within the hour to set the admin password:\n\n    %s\n\n%s", m.SetupURL, m.acmeSetupNote())
	}
	return m.Run(ctx)
}
