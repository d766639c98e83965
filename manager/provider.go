package manager

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pixpool/pixpool/childenv"
	"github.com/pixpool/pixpool/pool"
)

// NodeConfig is what a new cache node starts with.
type NodeConfig struct {
	CapacityMB int
	Policy     string // "lru" or "rr"
	// Password, if set, is what the node requires of every connection,
	// with the user pool.DefaultUser (memcached's -Y authentication).
	Password string
}

// Provider starts and stops cache nodes. Exited, if set by the manager,
// is called when a node the provider started ends without being stopped.
type Provider interface {
	// Start starts node id with cfg and returns the address it serves on.
	Start(ctx context.Context, id string, cfg NodeConfig) (addr string, err error)
	// Stop stops node id; a node that is not running is not an error.
	Stop(ctx context.Context, id string) error
	// Close stops every node.
	Close() error
}

// NodeNamer is a Provider whose nodes have names of their own: the node at
// position i of the layout (from 0) is NodeID(i), and a shrink removes the
// last ones, as a Kubernetes StatefulSet names its pods and scales down.
type NodeNamer interface {
	NodeID(i int) string
}

// ExitReporter is a Provider that tells, through the function given to
// ReportExits, of a node it started that ended without being stopped (the
// manager then starts it again, as it does a dead local node).
type ExitReporter interface {
	ReportExits(exited func(id string, err error))
}

// LocalProvider runs nodes as child processes of this binary
// (`pixpool cachenode`) on free loopback ports.
type LocalProvider struct {
	// Command returns the command that runs a node with the given
	// arguments. If nil, this executable with "cachenode" prepended.
	Command func(args ...string) *exec.Cmd
	// Host is the address nodes listen on. If empty, 127.0.0.1.
	Host string
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
	// Exited is called (in its own goroutine) when a node dies unasked.
	Exited func(id string, err error)

	mu    sync.Mutex // guards procs
	procs map[string]*proc
}

type proc struct {
	cmd     *exec.Cmd
	stopped bool          // Stop asked it to end
	done    chan struct{} // closed when it has ended
}

func (p *LocalProvider) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

func (p *LocalProvider) command(args ...string) *exec.Cmd {
	if p.Command != nil {
		return p.Command(args...)
	}
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	return exec.Command(self, append([]string{"cachenode"}, args...)...)
}

// Start runs a node and waits for it to say where it listens.
func (p *LocalProvider) Start(ctx context.Context, id string, cfg NodeConfig) (string, error) {
	host := p.Host
	if host == "" {
		host = "127.0.0.1"
	}
	cmd := p.command("--addr", host+":0", "--capacity", strconv.Itoa(cfg.CapacityMB), "--policy", cfg.Policy)
	cmd.Env = nodeEnv()
	if cfg.Password != "" {
		// By the environment, which only this user can read, never by
		// an argument, which every local user sees in the process list.
		cmd.Env = append(cmd.Env, "PIXPOOL_AUTH="+pool.DefaultUser+":"+cfg.Password)
	}
	cmd.SysProcAttr = sysProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start cache node %s: %w", id, err)
	}
	log := p.logger().With("node", id, "pid", cmd.Process.Pid)
	go relay(stderr, log)

	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addrc <- addr
			}
		}
	}()
	pr := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		close(pr.done)
		p.mu.Lock()
		stopped := pr.stopped
		if p.procs[id] == pr {
			delete(p.procs, id)
		}
		p.mu.Unlock()
		if !stopped {
			log.Warn("cache node exited", "err", err)
			if p.Exited != nil {
				go p.Exited(id, err)
			}
		}
	}()

	select {
	case addr := <-addrc:
		p.mu.Lock()
		if p.procs == nil {
			p.procs = make(map[string]*proc)
		}
		p.procs[id] = pr
		p.mu.Unlock()
		log.Info("cache node started", "addr", addr, "capacity_mb", cfg.CapacityMB, "policy", cfg.Policy)
		return addr, nil
	case <-pr.done:
		return "", fmt.Errorf("cache node %s exited before listening", id)
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	pr.stopped = true
	cmd.Process.Kill()
	return "", fmt.Errorf("cache node %s did not start in time", id)
}

// relay copies a node's log lines into ours.
func relay(r io.Reader, log *slog.Logger) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		log.Debug("cache node: " + sc.Text())
	}
}

// nodeVars are the variables of ours a node gets besides childenv.Base:
// the Go runtime's settings (and coverage output, for tests).
var nodeVars = []string{"GOMAXPROCS", "GOGC", "GODEBUG", "GOTRACEBACK", "GOCOVERDIR"}

// nodeEnv is the environment of a node: a minimal one (childenv.Env), so
// that none of serve's settings and secrets (PIXPOOL_*, which would also
// set the node's flags, AWS_*, PG*, DATABASE_URL, ...) reaches it, plus
// extra ("NAME=value"), the variables meant for the node.
func nodeEnv(extra ...string) []string {
	return childenv.Env(nodeVars, extra...)
}

// Stop ends a node: SIGTERM, then SIGKILL after 5 s.
func (p *LocalProvider) Stop(ctx context.Context, id string) error {
	p.mu.Lock()
	pr := p.procs[id]
	if pr != nil {
		pr.stopped = true
		delete(p.procs, id)
	}
	p.mu.Unlock()
	if pr == nil {
		return nil
	}
	terminate(pr.cmd.Process)
	select {
	case <-pr.done:
	case <-time.After(5 * time.Second):
		pr.cmd.Process.Kill()
		<-pr.done
	case <-ctx.Done():
		pr.cmd.Process.Kill()
	}
	return nil
}

// Kill ends a node as a crash would (tests use it).
func (p *LocalProvider) Kill(id string) error {
	p.mu.Lock()
	pr := p.procs[id]
	p.mu.Unlock()
	if pr == nil {
		return fmt.Errorf("no node %s", id)
	}
	return pr.cmd.Process.Kill()
}

// Close stops every node.
func (p *LocalProvider) Close() error {
	p.mu.Lock()
	ids := make([]string, 0, len(p.procs))
	for id := range p.procs {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { p.Stop(context.Background(), id) })
	}
	wg.Wait()
	return nil
}

// ErrFixedPool is returned when a static pool is asked to change size.
var ErrFixedPool = errors.New("the pool's nodes are given by --cache-nodes; pixpool cannot start or stop them")
