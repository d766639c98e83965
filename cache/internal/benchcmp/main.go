// Command benchcmp compares the cache node with a real memcached: it starts
// both as child processes with the same capacity and item size limit,
// drives each with the same gomemcache client, concurrency, key set and
// duration over loopback, alternating between them for several rounds, and
// prints the median ops/s, the ratio ours/memcached, and each server's CPU
// time per operation.
//
// scripts/bench-cachenode.sh runs it; docs/cachenode.md has the results.
//
//	go run ./cache/internal/benchcmp [-duration 5s] [-rounds 3] [-conns 16] [-sizes 1024,102400] [-ops get,set]
//
// With -serve ADDR it is instead the node under test (the child process).
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/childenv"
)

var (
	serve     = flag.String("serve", "", "run the cache node on this address (the child process)")
	mb        = flag.Int64("mb", 1024, "capacity in MB, for both servers")
	duration  = flag.Duration("duration", 5*time.Second, "length of one measurement")
	rounds    = flag.Int("rounds", 3, "alternating measurements per server and size; medians are reported")
	conns     = flag.Int("conns", 16, "concurrent client goroutines, one connection each")
	sizes     = flag.String("sizes", "1024,102400", "value sizes in bytes, comma-separated")
	ops       = flag.String("ops", "get", "operations to measure: get, set, or get,set")
	keysetMB  = flag.Int("keyset-mb", 100, "bytes of values in the key set, in MB (keys = this / size, 16 to 10000)")
	memcached = flag.String("memcached", "memcached", "memcached binary")
	threads   = flag.Int("threads", 4, "memcached worker threads (-t; 4 is memcached's default)")
	procs     = flag.Int("procs", 0, "GOMAXPROCS of the node; 0 is Go's default, the number of CPUs")
	profile   = flag.String("cpuprofile", "", "write the node's CPU profile to this file")
	verbose   = flag.Bool("v", false, "log every measurement, with the client's CPU per operation")
)

// children are killed by die, so that no memcached outlives the program.
var (
	childMu  sync.Mutex
	children []*exec.Cmd
)

func die(format string, args ...any) {
	stopChildren()
	log.Fatalf(format, args...)
}

func stopChildren() {
	childMu.Lock()
	defer childMu.Unlock()
	for _, c := range children {
		c.Process.Signal(syscall.SIGTERM) // lets the node write its profile
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
	children = nil
}

func start(c *exec.Cmd) {
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	dieWithParent(c)
	childMu.Lock()
	defer childMu.Unlock()
	if err := c.Start(); err != nil {
		log.Printf("start %s: %v", c.Path, err)
		go die("cannot start %s", c.Path)
		select {}
	}
	children = append(children, c)
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *serve != "" {
		runNode(*serve)
		return
	}
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
		<-ch
		die("interrupted")
	}()

	ourAddr, memAddr := freeAddr(), freeAddr()
	self, err := os.Executable()
	if err != nil {
		die("%v", err)
	}
	node := exec.Command(self, "-serve", ourAddr, "-mb", strconv.FormatInt(*mb, 10), "-cpuprofile", *profile)
	node.Env = childenv.Env([]string{"GOMAXPROCS"})
	if *procs > 0 {
		node.Env = childenv.Env(nil, "GOMAXPROCS="+strconv.Itoa(*procs))
	}
	_, memPort, _ := net.SplitHostPort(memAddr)
	margs := []string{"-l", "127.0.0.1", "-p", memPort, "-U", "0", "-m", strconv.FormatInt(*mb, 10),
		"-I", "16m", "-c", "4096", "-t", strconv.Itoa(*threads)}
	if os.Geteuid() == 0 {
		margs = append(margs, "-u", "root") // memcached refuses root without -u
	}
	mem := exec.Command(*memcached, margs...)
	mem.Env = childenv.Env(nil)
	start(node)
	start(mem)
	defer stopChildren()
	for _, a := range []string{ourAddr, memAddr} {
		if err := waitListening(a); err != nil {
			die("%v", err)
		}
	}

	gmp := "Go default"
	if *procs > 0 {
		gmp = strconv.Itoa(*procs)
	}
	fmt.Printf("cache node vs memcached: %d connections, %d x %s per server, %d MB, node GOMAXPROCS %s, memcached -t %d, %d CPUs\n",
		*conns, *rounds, *duration, *mb, gmp, *threads, runtime.NumCPU())
	fmt.Printf("%-4s %7s %6s %11s %11s %6s %15s %10s\n", "op", "size", "keys", "ours ops/s", "memcached", "ratio", "cpu µs/op ours", "memcached")
	for _, o := range strings.Split(*ops, ",") {
		if o != "get" && o != "set" {
			die("unknown op %q", o)
		}
		for _, f := range strings.Split(*sizes, ",") {
			size, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || size <= 0 {
				die("bad size %q", f)
			}
			nkeys := min(max(*keysetMB<<20/size, 16), 10000)
			keys, value := keySet(size, nkeys)
			fill(ourAddr, keys, value)
			fill(memAddr, keys, value)
			var ourOps, ourCPU, theirOps, theirCPU []float64
			for range max(*rounds, 1) {
				r, c := measure(ourAddr, node.Process.Pid, o, keys, value)
				ourOps, ourCPU = append(ourOps, r), append(ourCPU, c)
				r, c = measure(memAddr, mem.Process.Pid, o, keys, value)
				theirOps, theirCPU = append(theirOps, r), append(theirCPU, c)
			}
			fmt.Printf("%-4s %7d %6d %11.0f %11.0f %6.2f %15.1f %10.1f\n", o, size, nkeys,
				median(ourOps), median(theirOps), median(ourOps)/median(theirOps), median(ourCPU), median(theirCPU))
		}
	}
}

// runNode is the child process: a cache node as `pixpool cachenode` runs it.
func runNode(addr string) {
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	srv := &cache.Server{Addr: addr, Store: cache.NewStore(cache.StoreConfig{Capacity: *mb << 20})}
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
		<-ch
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, cache.ErrServerClosed) {
		log.Print(err)
	}
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

func keySet(size, nkeys int) ([]string, []byte) {
	value := make([]byte, size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = "bench:" + strconv.Itoa(size) + ":" + strconv.Itoa(i)
	}
	return keys, value
}

func newClient(addr string) *memcache.Client {
	mc := memcache.New(addr)
	mc.MaxIdleConns = *conns
	mc.Timeout = 10 * time.Second
	return mc
}

// fill stores the key set.
func fill(addr string, keys []string, value []byte) {
	mc := newClient(addr)
	defer mc.Close()
	for _, k := range keys {
		if err := mc.Set(&memcache.Item{Key: k, Value: value}); err != nil {
			die("%s: fill: %v", addr, err)
		}
	}
}

// measure runs op on random keys from *conns goroutines for *duration. It
// returns the successful operations per second and the server's CPU time
// per operation in microseconds (0 without /proc).
func measure(addr string, pid int, op string, keys []string, value []byte) (opsPerSec, cpuPerOp float64) {
	mc := newClient(addr)
	defer mc.Close()
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(*duration)
	start, cpu0, self0 := time.Now(), cpuTime(pid), cpuTime(os.Getpid())
	for g := range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			var ok, bad int64
			for time.Now().Before(deadline) {
				k := keys[rng.IntN(len(keys))]
				var err error
				if op == "set" {
					err = mc.Set(&memcache.Item{Key: k, Value: value})
				} else {
					var it *memcache.Item
					if it, err = mc.Get(k); err == nil && len(it.Value) != len(value) {
						err = fmt.Errorf("got %d bytes, want %d", len(it.Value), len(value))
					}
				}
				if err != nil {
					if bad++; bad <= 3 {
						log.Printf("%s: %s %s: %v", addr, op, k, err)
					}
					continue
				}
				ok++
			}
			done.Add(ok)
			failed.Add(bad)
		}()
	}
	wg.Wait()
	elapsed, cpu, self := time.Since(start), cpuTime(pid)-cpu0, cpuTime(os.Getpid())-self0
	n := float64(done.Load())
	if f := failed.Load(); f > 0 {
		log.Printf("%s: %d failed operations (not counted)", addr, f)
	}
	if *verbose {
		log.Printf("%s %s %d B: %.0f ops/s, server %.1f µs/op, client %.1f µs/op", addr, op, len(value),
			n/elapsed.Seconds(), float64(cpu.Microseconds())/n, float64(self.Microseconds())/n)
	}
	return n / elapsed.Seconds(), float64(cpu.Microseconds()) / n
}

// cpuTime returns the user+system CPU time of process pid from
// /proc/<pid>/stat (Linux); 0 elsewhere.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// After the ")" closing the command name, utime and stime are the 12th
	// and 13th fields, in clock ticks of 10ms.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die("%v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not listening: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
