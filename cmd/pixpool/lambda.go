package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/pixpool/pixpool"
	blobs3 "github.com/pixpool/pixpool/blob/s3"
	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/lambda"
	"github.com/pixpool/pixpool/recognize/text"
	"github.com/pixpool/pixpool/service"
)

// Lambda mode. The binary, deployed as `bootstrap` in the provided.al2023
// runtime (or run as `pixpool serve`), serves as an AWS Lambda function
// when AWS_LAMBDA_RUNTIME_API is set: each invocation is one HTTP request
// from API Gateway (an HTTP API, payload format 2.0) or a function URL,
// or one round of maintenance for an EventBridge scheduled event. The
// flags come from the environment as always (PIXPOOL_DB_FILE, ...).
//
// Lambda freezes a function between invocations, so nothing runs in the
// background: what `serve` does on timers is done on demand or in the
// scheduled round.
//
//   - The cache pool's layout is polled before a request when the last
//     poll is older than the trust a poll gives (a third of the replica
//     TTL, 2 s), by the wall clock; a thawed instance first ends its
//     heartbeat chain (manager.Manager.Resume), so it never serves from a
//     layout it can no longer trust. The function never keeps the lead
//     of the pool between invocations: it follows the layout in the
//     store, which an instance starting while no one leads publishes from
//     --cache-nodes (taking the lease for that moment only), or which a
//     `pixpool serve` that leads the pool keeps.
//   - Sessions and API keys are checked in the store on every request (no
//     WatchAuth), so a logout on one instance holds on all at once.
//   - A thumbnail is made before the invocation returns (Images.Wait).
//   - Uploads queue their analysis in the store; the scheduled round
//     analyses what it can in its time, takes the day's backup when due,
//     samples the pool's stats, applies a pool change asked for through
//     the store, prunes retired instances' heartbeats, and, at most
//     hourly, sweeps expired sessions, old login attempts, expired trash and orphaned
//     image files. The auto-scaler needs a provider that starts nodes,
//     which a function has not: with --cache-nodes the pool's size is the
//     list's.

// lambdaRuntimeEnv is set by AWS Lambda, and aws-lambda-rie, for the
// function's process: the runtime API to take invocations from.
const lambdaRuntimeEnv = "AWS_LAMBDA_RUNTIME_API"

// inLambda reports whether this process is an AWS Lambda function.
func inLambda() bool { return os.Getenv(lambdaRuntimeEnv) != "" }

// lambdaMaxUpload is --max-upload's bound in Lambda mode: an upload,
// with its multipart form and in base64, must fit in an invocation's
// 6 MB event (lambda.MaxBody, 4.45 MiB, less room for the form).
const lambdaMaxUpload = 4 << 20

// lambdaImageURLExpiry is how long the presigned S3 URL of an image too
// large for an invocation's answer lasts.
const lambdaImageURLExpiry = 5 * time.Minute

// lambdaDefaultData is --data in Lambda mode when it is not given: only
// /tmp is writable there (and it is the instance's own, lost with it).
func lambdaDefaultData() string { return filepath.Join(os.TempDir(), "pixpool") }

// lambdaConfig checks and adapts c for Lambda mode; given lists the flags
// set on the command line or in the environment.
func lambdaConfig(c *Config, given map[string]bool, log *slog.Logger) error {
	if !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		return errors.New("Lambda mode needs a PostgreSQL --db (PIXPOOL_DB, or PIXPOOL_DB_FILE naming a file that holds the URL): a function's instances share no disk, and /tmp is each instance's own")
	}
	if !strings.HasPrefix(c.Blob, "s3://") {
		return errors.New("Lambda mode needs an S3 --blob (PIXPOOL_BLOB=s3://bucket/prefix?region=...): a function's instances share no disk, and /tmp is each instance's own")
	}
	if c.TLSCert != "" || c.Domains != "" || c.MetricsAddr != "" {
		return errors.New("Lambda mode takes neither --tls-cert nor --domain (API Gateway and function URLs serve HTTPS, with a certificate from AWS Certificate Manager for a custom domain) nor --metrics-addr (a function answers invocations, not connections; admins scrape /metrics with an API key)")
	}
	if !given["data"] {
		c.Data = lambdaDefaultData()
	}
	c.Addr = "127.0.0.1:0" // a listener Open makes; nothing connects to it
	if strings.TrimSpace(c.CacheNodes) == "" {
		c.CacheSize = 0 // no local nodes: they would freeze with the function
	}
	if c.MaxUpload > lambdaMaxUpload {
		if given["max-upload"] {
			log.Warn("--max-upload lowered to what fits in a Lambda invocation's 6 MB event", "max_upload", service.FormatBytes(lambdaMaxUpload))
		}
		c.MaxUpload = lambdaMaxUpload
	}
	// API Gateway and function URLs answer only HTTPS.
	c.SecureCookies = true
	return nil
}

// runLambda runs `pixpool serve` in Lambda mode: it opens m, whose
// flags are parsed (given lists those set on the command line or in the
// environment), and answers invocations until the process ends.
func runLambda(ctx context.Context, m *Main, given map[string]bool, recDir string) error {
	if err := lambdaConfig(&m.Config, given, m.Logger); err != nil {
		return usageError{err}
	}
	m.Config.RecognitionDirs = recognitionDirs(m.Config.Data, recDir)
	if m.Config.DecodeMemory == 0 {
		m.Config.DecodeMemory = decodeMemory(cache.MachineMemory(), goMemLimit())
	}
	setMemoryLimit(m.Config.DecodeMemory, m.Logger)
	setGCPercent()
	f, err := openLambda(ctx, m)
	if err != nil {
		m.Close()
		return err
	}
	awslambda.StartWithOptions(f.Invoke, awslambda.WithContext(ctx))
	return nil
}

// lambdaFunc answers a function's invocations.
type lambdaFunc struct {
	m    *Main
	http *lambda.Handler

	mu     sync.Mutex // one invocation at a time (Lambda sends no more); guards polled
	polled time.Time  // wall clock (no monotonic reading) of the last poll of the pool's layout
}

// openLambda opens m (its Config adapted by lambdaConfig) for Lambda.
func openLambda(ctx context.Context, m *Main) (*lambdaFunc, error) {
	m.lambda = true
	began := time.Now()
	if err := m.Open(ctx); err != nil {
		return nil, err
	}
	if m.SetupURL != "" {
		// The link would go to CloudWatch Logs: not printed.
		m.SetupURL = ""
		m.Logger.Warn("no admin account yet: set PIXPOOL_ADMIN_PASSWORD (or PIXPOOL_ADMIN_PASSWORD_FILE) on the function, or run pixpool user create --admin --db URL admin")
	}
	if s3, ok := m.Blobs.(*blobs3.Store); ok {
		// An image whose answer would not fit in Lambda's 6 MB is fetched
		// from S3 itself.
		m.HTTP.ImageURLAbove = lambda.MaxBody
		m.HTTP.ImageURL = func(ctx context.Context, img *pixpool.Image, disposition string) (string, error) {
			u, err := s3.PresignGet(ctx, img.BlobKey, lambdaImageURLExpiry, img.ContentType, disposition)
			if err != nil {
				return "", err
			}
			return u.String(), nil
		}
	}
	f := &lambdaFunc{m: m, http: &lambda.Handler{Handler: hsts(m.HTTP.Handler())}}
	if m.Manager != nil {
		if m.Manager.Leading() {
			// Open published the layout of --cache-nodes while no one led;
			// a function cannot keep the lease between invocations.
			m.stepDownLambda(ctx)
		}
		if err := f.follow(ctx); err != nil {
			m.Logger.Warn("follow the cache pool", "err", err)
		}
	}
	m.Logger.Info("pixpool serving AWS Lambda invocations", "version", pixpool.Version, "open", time.Since(began).Round(time.Millisecond),
		"cache_nodes", m.Config.CacheNodes, "max_upload", m.Config.MaxUpload)
	return f, nil
}

// stepDownLambda stops leading the pool, which the function took only to
// publish its layout, and frees the lease for a long-lived leader.
func (m *Main) stepDownLambda(ctx context.Context) {
	m.Manager.Close() // static nodes: stops nothing
	if err := m.Store.ReleaseLease(ctx, leaseName, m.holder); err != nil {
		m.Logger.Warn("release the cache pool lease", "err", err)
	}
}

// eventKind is what an invocation's event says it is.
type eventKind struct {
	Source         string `json:"source"`      // "aws.events"
	DetailType     string `json:"detail-type"` // "Scheduled Event"
	Pixpool        string `json:"pixpool"`     // "maintenance": a round asked for by hand
	HTTPMethod     string `json:"httpMethod"`  // API Gateway REST, payload 1.0
	RequestContext struct {
		HTTP struct {
			Method string `json:"method"`
		} `json:"http"`
	} `json:"requestContext"`
}

// Invoke answers one invocation: an HTTP request, or a scheduled round of
// maintenance.
func (f *lambdaFunc) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var kind eventKind
	if err := json.Unmarshal(raw, &kind); err != nil {
		return nil, fmt.Errorf("pixpool: the event is not a JSON object: %w", err)
	}
	switch {
	case kind.RequestContext.HTTP.Method != "":
		var e events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("pixpool: malformed HTTP event: %w", err)
		}
		return f.serveHTTP(ctx, &e)
	case kind.Source == "aws.events" && kind.DetailType == "Scheduled Event", kind.Pixpool == "maintenance":
		return f.maintain(ctx)
	case kind.HTTPMethod != "":
		return nil, errors.New("pixpool: API Gateway REST (payload format 1.0) events are not supported: use an HTTP API with payload format 2.0, or a function URL")
	}
	return nil, errors.New(`pixpool: unknown event: want an API Gateway HTTP API (payload 2.0) or function URL request, or an EventBridge scheduled event (source aws.events, detail-type Scheduled Event), or {"pixpool":"maintenance"} for a round of maintenance`)
}

func (f *lambdaFunc) serveHTTP(ctx context.Context, e *events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if f.m.Manager != nil && f.stale() {
		if err := f.follow(ctx); err != nil {
			f.m.Logger.Warn("follow the cache pool", "err", err)
		}
	}
	resp, err := f.http.ServeEvent(ctx, e)
	// Nothing may run once the function is frozen: finish the thumbnail
	// an upload started.
	f.m.Images.Wait()
	return resp, err
}

// stale reports whether the last poll of the pool's layout is older, by
// the wall clock, than the trust a poll gives. The monotonic clock is not
// asked: it may not count the time the function spent frozen.
func (f *lambdaFunc) stale() bool {
	age := time.Now().Round(0).Sub(f.polled)
	return age < 0 || age >= f.m.Manager.Trust()
}

// follow polls the pool's layout, as a replica that was away.
func (f *lambdaFunc) follow(ctx context.Context) error {
	f.m.Manager.Resume(ctx)
	f.polled = time.Now().Round(0)
	return f.m.Manager.Follow(ctx)
}

// RoundReport is what a scheduled round of maintenance did, returned as
// the invocation's result and logged.
type RoundReport struct {
	Analysed int `json:"analysed"` // images analysed (done or failed)
	// AnalysisLeft: queued analyses may remain (the round ran out of time
	// or recognition is missing).
	AnalysisLeft bool     `json:"analysis_left"`
	Recognition  string   `json:"recognition,omitempty"` // what recognition lacks; "" when installed
	Backup       string   `json:"backup,omitempty"`      // the scheduled backup taken
	Sampled      bool     `json:"stats_sampled"`         // a pool stats sample was stored
	PoolRequest  bool     `json:"pool_request"`          // a pool change asked through the store was applied
	PoolLeader   string   `json:"pool_leader,omitempty"` // why the pool was left alone
	Swept        bool     `json:"swept"`                 // sessions, attempts and orphans were swept (at most hourly)
	Sessions     int      `json:"expired_sessions"`
	Orphans      int      `json:"orphans"`
	TrashPurged  int      `json:"trash_purged"` // expired trash entries purged (every one due, up to 100 batches of service.PurgeExpiredBatch)
	Notes        []string `json:"notes,omitempty"`
	Errors       []string `json:"errors,omitempty"`
	Took         string   `json:"took"`
}

// sweptSetting holds when a round last swept; sweepEvery is how often
// rounds sweep, as serve's housekeeping does (the orphan sweep lists the
// bucket).
const (
	sweptSetting = "lambda.swept"
	sweepEvery   = time.Hour
)

// sweepDue reports whether this round should sweep.
func (f *lambdaFunc) sweepDue(ctx context.Context) bool {
	v, err := f.m.Store.Setting(ctx, sweptSetting)
	if err != nil {
		return true
	}
	last, err := time.Parse(time.RFC3339Nano, v)
	age := time.Since(last)
	return err != nil || age < 0 || age >= sweepEvery
}

// roundMargin is the time a round keeps, before the invocation's
// deadline, beyond one image's analysis.
const roundMargin = 5 * time.Second

// maintain runs one round of what `serve` runs in the background.
func (f *lambdaFunc) maintain(ctx context.Context) (*RoundReport, error) {
	m := f.m
	began := time.Now()
	rep := &RoundReport{}
	fail := func(what string, err error) {
		if err != nil && pixpool.ErrorCode(err) != pixpool.ECONFLICT {
			rep.Errors = append(rep.Errors, what+": "+err.Error())
			m.Logger.Warn("maintenance: "+what, "err", err)
		}
	}

	// The sweep and the backup end roundMargin before the invocation's
	// deadline, with an error the report shows: a round that timed out
	// would answer nothing, and Lambda tries a scheduled (asynchronous)
	// invocation that failed twice more.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if deadline, ok := ctx.Deadline(); ok {
		wctx, cancel = context.WithDeadline(ctx, deadline.Add(-roundMargin))
		defer cancel()
	}
	if wctx.Err() != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("no time for the sweep or the backup: a round keeps %v before the invocation's deadline; give the function a longer timeout", roundMargin))
	} else {
		if f.sweepDue(ctx) {
			// Noted first: a sweep cut short (a large bucket to list) waits
			// for the next hour rather than starting again every round.
			rep.Swept = true
			now := time.Now()
			fail("note the sweep", m.Store.SetSetting(ctx, sweptSetting, now.UTC().Format(time.RFC3339Nano)))
			n, err := m.Store.DeleteExpiredSessions(wctx, now)
			rep.Sessions = int(n)
			fail("sweep sessions", err)
			fail("sweep login and sign-up attempts", m.Store.ClearAttempts(wctx, "", now.Add(-24*time.Hour)))
			rep.TrashPurged, err = m.Images.PurgeExpired(wctx)
			fail("purge expired trash", err)
			rep.Orphans, err = m.Images.SweepOrphans(wctx, m.Config.SweepGrace)
			fail("sweep orphans", err)
		}
		info, err := m.Backups.Tick(wctx)
		fail("scheduled backup", err)
		if info != nil {
			rep.Backup = info.Name
		}
	}

	if m.Manager != nil {
		f.leadOnce(ctx, rep, fail)
	}

	if a := m.Analyzer; a != nil {
		rep.Recognition = a.Installed()
		if a.Labels == nil && a.Text == nil {
			// Analysing would store empty results: leave the queue for a
			// server that has recognition.
			rep.AnalysisLeft = true
			rep.Notes = append(rep.Notes, "analyses left queued: recognition is not installed in the function (see recognition above); a pixpool serve that has it analyses them")
		} else {
			deadline, ok := ctx.Deadline()
			need := m.Config.AnalyzeTimeout*7/4 + roundMargin
			for {
				if ok && time.Until(deadline) < need {
					rep.AnalysisLeft = true
					if rep.Analysed == 0 {
						rep.Notes = append(rep.Notes, fmt.Sprintf("no time to analyse: an image may take up to %v (--analyze-timeout × 1.75, and %v to spare); give the function a longer timeout (up to 15 minutes) or lower --analyze-timeout",
							m.Config.AnalyzeTimeout*7/4, roundMargin))
					}
					break
				}
				if !a.Step(ctx) {
					break
				}
				rep.Analysed++
			}
		}
	}
	f.m.Images.Wait()
	rep.Took = time.Since(began).Round(time.Millisecond).String()
	m.Logger.Info("maintenance round", "analysed", rep.Analysed, "analysis_left", rep.AnalysisLeft, "backup", rep.Backup, "swept", rep.Swept,
		"stats_sampled", rep.Sampled, "pool_request", rep.PoolRequest, "expired_sessions", rep.Sessions, "trash_purged", rep.TrashPurged, "orphans", rep.Orphans,
		"errors", len(rep.Errors), "took", rep.Took)
	return rep, nil
}

// leadOnce leads the pool for the round if no one does: it applies a
// change asked through the store, stores a stats sample and prunes old
// ones, then steps down.
func (f *lambdaFunc) leadOnce(ctx context.Context, rep *RoundReport, fail func(string, error)) {
	m := f.m
	won, err := m.acquireLease(ctx)
	if err != nil {
		fail("cache pool lease", err)
		return
	}
	if !won {
		rep.PoolLeader = "another process leads the cache pool: it samples the stats and applies changes"
		return
	}
	defer func() {
		m.stepDownLambda(context.WithoutCancel(ctx))
		if err := f.follow(ctx); err != nil {
			fail("follow the cache pool", err)
		}
	}()
	if err := m.Manager.Open(ctx); err != nil {
		fail("cache pool", err)
		return
	}
	rep.PoolRequest, err = m.Manager.ApplyPending(ctx)
	fail("cache pool request", err)
	fail("prune replicas' heartbeats", m.Manager.PruneReplicas(ctx))
	if err := m.Stats.Collect(ctx); err != nil {
		fail("stats sample", err)
	} else {
		rep.Sampled = true
	}
	_, err = m.Store.DeleteStatsBefore(ctx, time.Now().Add(-cmp.Or(m.Config.StatsRetention, 24*time.Hour)))
	fail("prune stats", err)
}

// flagsGiven lists the flags of fs set on the command line or by their
// environment variables (parseFlags).
func flagsGiven(fs *flag.FlagSet) map[string]bool {
	given := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		_, env := os.LookupEnv(envName(f.Name))
		_, file := os.LookupEnv(envName(f.Name) + fileSuffix)
		given[f.Name] = env || file
	})
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	return given
}

// lazyAnalyzer is newAnalyzer for Lambda mode: what recognition has is
// found from its files alone, and the models load when a scheduled round
// first analyses an image, so no request's cold start pays for them
// (0.3 s here).
func lazyAnalyzer(st pixpool.Store, blobs pixpool.BlobStore, c *Config, serving *service.Activity, log *slog.Logger) *service.Analyzer {
	a := &service.Analyzer{Store: st, Blobs: blobs, Workers: c.AnalyzeWorkers, Timeout: c.AnalyzeTimeout, Serving: serving, Logger: log}
	dirs := c.RecognitionDirs
	if len(dirs) == 0 {
		dirs = []string{c.Data}
	}
	var once sync.Once
	var loaded *service.Analyzer
	load := func() *service.Analyzer {
		once.Do(func() { loaded = newAnalyzer(st, blobs, c, serving, log) })
		return loaded
	}
	if dir, missing := findRecognition(dirs); dir == "" {
		a.LabelsMissing = missing
	} else {
		a.Labels = func(ctx context.Context, img image.Image) ([]pixpool.Label, error) {
			l := load()
			if l.Labels == nil {
				return nil, errors.New("labels: " + l.LabelsMissing)
			}
			return l.Labels(ctx, img)
		}
	}
	scene := slices.ContainsFunc(dirs, func(d string) bool { return text.SceneInstalled(d) == nil })
	if _, err := exec.LookPath("tesseract"); err != nil && !scene {
		a.TextMissing = "neither the scene text models nor Tesseract are in the function; run scripts/setup-recognition.sh DIR and give --recognition-dir DIR, or let a pixpool serve that has them analyse."
	} else {
		a.Text = func(ctx context.Context, img image.Image) ([]pixpool.TextLine, error) {
			l := load()
			if l.Text == nil {
				return nil, errors.New("text: " + l.TextMissing)
			}
			return l.Text(ctx, img)
		}
		a.TextMemory = func(w, h int) int64 {
			if l := load(); l.TextMemory != nil {
				return l.TextMemory(w, h)
			}
			return 0
		}
	}
	return a
}
