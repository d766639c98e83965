// Command lambdabench helps scripts/lambda-bench.sh compare pixpool as an
// AWS Lambda function under aws-lambda-rie with `pixpool serve`, on the
// same PostgreSQL, S3 and cache node:
//
//	lambdabench run [flags]   measure, in interleaved rounds
//	lambdabench empty         an empty Lambda function (aws-lambda-go),
//	                          answering at once with a body of an image's
//	                          size: what rie and the runtime cost alone
//
// Each round starts each system afresh and measures its cold start (from
// starting the process to the first answered get-by-key), then reads
// -keys images twice: once after the cache node was flushed (misses: the
// bytes come from S3) and once more (hits). It prints every round, then
// the medians over rounds of the cold start and of each phase's p50 and
// p99. Then it uploads -uploads new images (about 100 KB each, PUT
// /api/v1/images/{key}): the time of an upload through each system, the
// empty function answering an event of an upload's size.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/pixpool/pixpool/childenv"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "empty":
		// As large an answer as an image's, made once.
		body := base64.StdEncoding.EncodeToString(make([]byte, imageBytes))
		awslambda.Start(func(json.RawMessage) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: body, IsBase64Encoded: true,
				Headers: map[string]string{"Content-Type": "image/png"}}, nil
		})
	case "run":
		if err := run(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "lambdabench:", err)
			os.Exit(1)
		}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: lambdabench run -pixpool BIN -rie BIN -db URL -blob URL [-cache-nodes ADDR] [-rounds N] [-keys N] | lambdabench empty")
	os.Exit(2)
}

type config struct {
	pixpool, rie, self, db, blob, cacheNodes string
	rounds, keys, uploads                    int
	dir                                      string
}

func run(args []string) error {
	var c config
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	fs.StringVar(&c.pixpool, "pixpool", "", "pixpool binary")
	fs.StringVar(&c.rie, "rie", "aws-lambda-rie", "aws-lambda-rie binary")
	fs.StringVar(&c.db, "db", "", "PostgreSQL URL")
	fs.StringVar(&c.blob, "blob", "", "S3 --blob URL (credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&c.cacheNodes, "cache-nodes", "", "cache node both use (empty: none)")
	fs.IntVar(&c.rounds, "rounds", 5, "rounds, each system once per round, in alternating order")
	fs.IntVar(&c.keys, "keys", 50, "images read per phase (each about 100 KB)")
	fs.IntVar(&c.uploads, "uploads", 0, "images uploaded per round after the reads (each about 100 KB, a new key each)")
	fs.Parse(args)
	if c.pixpool == "" || c.db == "" || c.blob == "" {
		usage()
	}
	var err error
	if c.self, err = os.Executable(); err != nil {
		return err
	}
	if c.dir, err = os.MkdirTemp("", "lambdabench"); err != nil {
		return err
	}
	defer os.RemoveAll(c.dir)

	secret, err := c.setup()
	if err != nil {
		return err
	}
	type result struct {
		cold          []time.Duration
		hit, miss, up [][]time.Duration // per round
	}
	results := map[string]*result{"serve": {}, "lambda": {}, "empty": {}}
	order := []string{"serve", "lambda", "empty"}
	for round := range c.rounds {
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, sys := range order {
			cold, miss, hit, up, err := c.measure(sys, secret, round)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round+1, sys, err)
			}
			r := results[sys]
			r.cold = append(r.cold, cold)
			r.miss, r.hit, r.up = append(r.miss, miss), append(r.hit, hit), append(r.up, up)
			fmt.Printf("round %d %-6s cold %7.1f ms  miss p50 %6.2f p99 %6.2f ms  hit p50 %6.2f p99 %6.2f ms", round+1, sys,
				ms(cold), ms(pct(miss, 50)), ms(pct(miss, 99)), ms(pct(hit, 50)), ms(pct(hit, 99)))
			if len(up) > 0 {
				fmt.Printf("  upload p50 %6.2f p99 %6.2f ms", ms(pct(up, 50)), ms(pct(up, 99)))
			}
			fmt.Println()
		}
	}
	fmt.Printf("\nmedians over %d rounds (%d reads per phase per round; empty: rie and an empty aws-lambda-go function)\n", c.rounds, c.keys)
	fmt.Printf("%-7s %10s %10s %10s %10s %10s %10s %10s\n", "", "cold ms", "miss p50", "miss p99", "hit p50", "hit p99", "up p50", "up p99")
	for _, sys := range []string{"serve", "lambda", "empty"} {
		r := results[sys]
		per := func(rs [][]time.Duration, p float64) float64 {
			var v []time.Duration
			for _, x := range rs {
				v = append(v, pct(x, p))
			}
			return ms(pct(v, 50))
		}
		fmt.Printf("%-7s %10.1f %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f\n", sys, ms(pct(r.cold, 50)), per(r.miss, 50), per(r.miss, 99), per(r.hit, 50), per(r.hit, 99),
			per(r.up, 50), per(r.up, 99))
	}
	return nil
}

var logLevel = cmp.Or(os.Getenv("BENCH_LOG_LEVEL"), "error")

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pct is the p-th percentile of v (nearest rank).
func pct(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (c *config) env() []string {
	// The S3 and PostgreSQL secrets are the only ones the programs get
	// (childenv keeps the rest of this process's environment to itself).
	var secrets []string
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "PGPASSWORD"} {
		if v, ok := os.LookupEnv(k); ok {
			secrets = append(secrets, k+"="+v)
		}
	}
	return childenv.Env(nil, append(secrets, "PIXPOOL_DB="+c.db, "PIXPOOL_BLOB="+c.blob, "PIXPOOL_CACHE_NODES="+c.cacheNodes,
		"PIXPOOL_ANALYZE=false", "PIXPOOL_DATA="+filepath.Join(c.dir, "data"), "PIXPOOL_LOG_LEVEL="+logLevel, "PIXPOOL_CACHE_SIZE=0",
		"PIXPOOL_ADMIN_PASSWORD=bench admin password")...)
}

// setup makes a user, its API key and the images, through a serve.
func (c *config) setup() (string, error) {
	user := exec.Command(c.pixpool, "user", "create", "bench")
	user.Env = append(c.env(), "PIXPOOL_PASSWORD=bench password 1")
	if out, err := user.CombinedOutput(); err != nil && !bytes.Contains(out, []byte("exists")) {
		return "", fmt.Errorf("user create: %v: %s", err, out)
	}
	key := exec.Command(c.pixpool, "apikey", "create", "bench")
	key.Env = c.env()
	out, err := key.Output()
	if err != nil {
		return "", fmt.Errorf("apikey create: %v", err)
	}
	var secret string
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "pp_") {
			secret = f
		}
	}
	if secret == "" {
		return "", fmt.Errorf("apikey create printed no key: %s", out)
	}
	addr, stop, _, err := c.startServe(secret, "")
	if err != nil {
		return "", err
	}
	defer stop()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range c.keys {
		req, _ := http.NewRequest("PUT", "http://"+addr+"/api/v1/images/"+keyName(i), bytes.NewReader(noisePNG(rng)))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("upload: %s", resp.Status)
		}
	}
	return secret, nil
}

// noisePNG is a 160×160 PNG of noise, about imageBytes.
func noisePNG(rng *rand.Rand) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 160, 160))
	for j := range img.Pix {
		img.Pix[j] = uint8(rng.Uint32())
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// imageBytes is about the size of the images read (a 160×160 PNG of
// noise), and of the empty function's answer.
const imageBytes = 102699

func keyName(i int) string { return fmt.Sprintf("bench/%03d.png", i) }

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// getter reads one image (or, for the empty function, asks it anything).
type getter func(key string) error

// putter uploads one image (the empty function answers at once).
type putter func(key string, body []byte) error

// startServe starts `pixpool serve` and returns once a get of key (with
// key "", /healthz) is answered, with the time from the start.
func (c *config) startServe(secret, key string) (addr string, stop func(), cold time.Duration, err error) {
	addr = freeAddr()
	cmd := exec.Command(c.pixpool, "serve", "--addr", addr)
	cmd.Env = c.env()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return "", nil, 0, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	get := c.serveGetter(addr, secret)
	for {
		if err := get(key); err == nil {
			return addr, stop, time.Since(began), nil
		} else if time.Since(began) > time.Minute {
			stop()
			return "", nil, 0, fmt.Errorf("serve not answering: %w", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (c *config) servePutter(addr, secret string) putter {
	client := &http.Client{Timeout: 30 * time.Second}
	return func(key string, body []byte) error {
		req, _ := http.NewRequest("PUT", "http://"+addr+"/api/v1/images/"+key, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			return fmt.Errorf("put %s: %s", key, resp.Status)
		}
		return nil
	}
}

func (c *config) serveGetter(addr, secret string) getter {
	client := &http.Client{Timeout: 30 * time.Second}
	return func(key string) error {
		url := "http://" + addr + "/api/v1/images/" + key
		if key == "" {
			url = "http://" + addr + "/healthz"
		}
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("get %s: %s", key, resp.Status)
		}
		return err
	}
}

// startFunction runs args under the emulator and returns once an
// invocation is answered, with the time from the start.
func (c *config) startFunction(secret string, args ...string) (get getter, put putter, stop func(), cold time.Duration, err error) {
	addr := freeAddr()
	cmd := exec.Command(c.rie, append([]string{"--runtime-api-address", freeAddr(), "--runtime-interface-emulator-address", addr}, args...)...)
	cmd.Env = append(c.env(), "LOG_LEVEL=error")
	if logLevel != "error" {
		// The emulator writes the function's output, and its own, to
		// stdout.
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	// The emulator starts the function as its child: stop both.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, 0, err
	}
	stop = func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }
	get, put = c.functionGetter(addr, secret), c.functionPutter(addr, secret)
	for {
		if err := get(keyName(0)); err == nil {
			return get, put, stop, time.Since(began), nil
		} else if time.Since(began) > time.Minute {
			stop()
			return nil, nil, nil, 0, fmt.Errorf("function not answering: %w", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (c *config) functionPutter(addr, secret string) putter {
	client := &http.Client{Timeout: 30 * time.Second}
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	return func(key string, body []byte) error {
		e := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: "/api/v1/images/" + key,
			Headers: map[string]string{"authorization": "Bearer " + secret, "host": "bench.execute-api.eu-west-1.amazonaws.com", "content-type": "image/png"},
			Body:    base64.StdEncoding.EncodeToString(body), IsBase64Encoded: true}
		e.RequestContext.HTTP.Method, e.RequestContext.HTTP.Path, e.RequestContext.HTTP.SourceIP = "PUT", e.RawPath, "198.51.100.1"
		b, _ := json.Marshal(e)
		resp, err := client.Post(url, "application/json", bytes.NewReader(b))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out events.APIGatewayV2HTTPResponse
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return fmt.Errorf("invoke: %s: %w", resp.Status, err)
		}
		if out.StatusCode != http.StatusCreated && out.StatusCode != http.StatusOK {
			return fmt.Errorf("put %s: %d %s", key, out.StatusCode, out.Body)
		}
		return nil
	}
}

func (c *config) functionGetter(addr, secret string) getter {
	client := &http.Client{Timeout: 30 * time.Second}
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	return func(key string) error {
		e := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: "/api/v1/images/" + key,
			Headers: map[string]string{"authorization": "Bearer " + secret, "host": "bench.execute-api.eu-west-1.amazonaws.com"}}
		e.RequestContext.HTTP.Method, e.RequestContext.HTTP.Path, e.RequestContext.HTTP.SourceIP = "GET", e.RawPath, "198.51.100.1"
		b, _ := json.Marshal(e)
		resp, err := client.Post(url, "application/json", bytes.NewReader(b))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out events.APIGatewayV2HTTPResponse
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return fmt.Errorf("invoke: %s: %w", resp.Status, err)
		}
		if out.StatusCode != http.StatusOK {
			return fmt.Errorf("get %s: %d %s", key, out.StatusCode, out.Body)
		}
		_, err = base64.StdEncoding.DecodeString(out.Body)
		return err
	}
}

// measure starts sys, takes its cold start, then the misses and hits of
// reading every key twice, then the uploads of new keys.
func (c *config) measure(sys, secret string, round int) (cold time.Duration, miss, hit, up []time.Duration, err error) {
	var get getter
	var put putter
	var stop func()
	switch sys {
	case "serve":
		var addr string
		addr, stop, cold, err = c.startServe(secret, keyName(0))
		if err == nil {
			get, put = c.serveGetter(addr, secret), c.servePutter(addr, secret)
		}
	case "lambda":
		get, put, stop, cold, err = c.startFunction(secret, c.pixpool)
	case "empty":
		get, put, stop, cold, err = c.startFunction(secret, c.self, "empty")
	}
	if err != nil {
		return 0, nil, nil, nil, err
	}
	defer stop()
	if err := c.flush(); err != nil {
		return 0, nil, nil, nil, err
	}
	for _, phase := range []*[]time.Duration{&miss, &hit} {
		for i := range c.keys {
			began := time.Now()
			if err := get(keyName(i)); err != nil {
				return 0, nil, nil, nil, err
			}
			*phase = append(*phase, time.Since(began))
		}
	}
	rng := rand.New(rand.NewPCG(uint64(round), 3))
	for i := range c.uploads {
		body := noisePNG(rng)
		began := time.Now()
		if err := put(fmt.Sprintf("bench/up-%s-%d-%03d.png", sys, round, i), body); err != nil {
			return 0, nil, nil, nil, err
		}
		up = append(up, time.Since(began))
	}
	return cold, miss, hit, up, nil
}

// flush empties the cache node, so the next read of every key misses.
func (c *config) flush() error {
	if c.cacheNodes == "" {
		return nil
	}
	conn, err := net.DialTimeout("tcp", c.cacheNodes, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "flush_all\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "OK" {
		return errors.New("flush_all: " + line)
	}
	return nil
}
