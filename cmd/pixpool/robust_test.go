package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"image"
	"image/jpeg"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pixpool/pixpool/store/sqlite"
)

// runServeBinary runs this test binary as `pixpool serve` with args and
// returns its exit status and output; it must end by itself within 60 s.
func runServeBinary(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0", "--analyze=false"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run serve: %v\n%s", err, out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// mountTmpfs mounts a tmpfs of sizeKB KiB on a new temp folder, unmounted
// at cleanup; it skips the test where that cannot be done (not root, or no
// mount permission in a container).
func mountTmpfs(t *testing.T, sizeKB int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(sizeKB)+"k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the file system is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-*")
	if err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	if f == nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// TestServe_BadDatabase starts the real binary on a database it cannot
// open: it must say which file and why, and exit with status 1, not panic.
func TestServe_BadDatabase(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) string // returns the data folder
		cause string
	}{
		{"Folder", func(t *testing.T) string {
			data := t.TempDir()
			if err := os.Mkdir(filepath.Join(data, "pixpool.db"), 0o750); err != nil {
				t.Fatal(err)
			}
			return data
		}, "is a folder"},
		{"RandomBytes", func(t *testing.T) string {
			data := t.TempDir()
			if err := os.WriteFile(filepath.Join(data, "pixpool.db"), []byte(rand.Text()+strings.Repeat(rand.Text(), 4000)), 0o640); err != nil {
				t.Fatal(err)
			}
			return data
		}, "not a SQLite database"},
		{"FullDisk", func(t *testing.T) string {
			dir := mountTmpfs(t, 256)
			fillDisk(t, dir)
			return filepath.Join(dir, "data")
		}, "disk is full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.setup(t)
			status, out := runServeBinary(t, "--data", data, "--cache-size", "0")
			if status != 1 {
				t.Errorf("exit status %d, want 1", status)
			}
			db := filepath.Join(data, "pixpool.db")
			if strings.Contains(out, "panic") || !strings.Contains(out, db) || !strings.Contains(out, tc.cause) {
				t.Errorf("output does not name %s and %q:\n%s", db, tc.cause, out)
			}
		})
	}
}

// serveProcess is this test binary running `pixpool serve` as a child.
type serveProcess struct {
	cmd    *exec.Cmd
	url    string
	log    string        // file of its output
	exited chan struct{} // closed when it has exited, with err set
	err    error         // of cmd.Wait
}

// startServeBinary starts `pixpool serve` on a free 127.0.0.1 port with
// data, env added to the environment, and args, and waits until it is
// ready. It is killed at cleanup if still running.
func startServeBinary(t *testing.T, data string, env []string, args ...string) *serveProcess {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.CreateTemp(t.TempDir(), "serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", addr, "--data", data, "--analyze=false"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{cmd: cmd, url: "http://" + addr, log: logf.Name(), exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("serve's log:\n%s", p.output())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("serve exited:\n%s", p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready in 60 s:\n%s", p.output())
		}
	}
}

func (p *serveProcess) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// stop ends the server as an operator would (SIGTERM) and waits for it.
func (p *serveProcess) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
	if p.err != nil {
		t.Fatalf("serve: %v\n%s", p.err, p.output())
	}
}

// noisyJPEG is a JPEG of about size bytes that does not compress.
func noisyJPEG(t *testing.T, seed uint64) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 120, 120))
	rng := mrand.New(mrand.NewPCG(seed, seed))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestServe_FullDisk runs the real binary on a small file system and fills
// it: uploads get 507 saying storage is full, an image can still be
// deleted, and a restart on the full disk starts and serves reads.
func TestServe_FullDisk(t *testing.T) {
	mnt := mountTmpfs(t, 12<<10)
	data := filepath.Join(mnt, "data")
	env := []string{"PIXPOOL_ADMIN_PASSWORD=correct horse battery"}
	srv := startServeBinary(t, data, env, "--cache-size", "1")
	c := &client{t: t, base: srv.url, key: strings.TrimSpace(cli(t, data, "", "apikey", "create", "admin"))}
	images := map[string][]byte{}
	for i, key := range []string{"a", "b", "c"} {
		images[key] = noisyJPEG(t, uint64(i))
		expect(t, c.do("PUT", keyPath(key), bytes.NewReader(images[key])), http.StatusCreated)
	}

	fillDisk(t, mnt)
	checkFull := func() {
		t.Helper()
		b := expect(t, c.do("PUT", keyPath("new"), bytes.NewReader(noisyJPEG(t, 9))), http.StatusInsufficientStorage)
		if code, msg := apiError(t, b); code != "storage_full" || !strings.Contains(msg, "Storage is full") {
			t.Errorf("upload on a full disk: %s %q", code, msg)
		}
	}
	checkFull()
	expect(t, c.do("DELETE", keyPath("a"), nil), http.StatusOK)
	expect(t, c.do("GET", keyPath("a"), nil), http.StatusNotFound)
	srv.stop(t)

	// Whatever the delete freed is taken again, then the server restarts.
	fillDisk(t, mnt)
	srv = startServeBinary(t, data, env, "--cache-size", "1")
	c.base = srv.url
	if got := expect(t, c.do("GET", keyPath("b"), nil), http.StatusOK); !bytes.Equal(got, images["b"]) {
		t.Errorf("read %d bytes of b after the restart, want %d", len(got), len(images["b"]))
	}
	checkFull()
	expect(t, c.do("DELETE", keyPath("c"), nil), http.StatusOK)
	if !strings.Contains(srv.output(), "storage is full") {
		t.Errorf("no warning that storage is full at the start:\n%s", srv.output())
	}
	srv.stop(t)
}

// TestServe_SignupFullDisk: a start with --signup on a full disk starts,
// warning that the mode was not stored, rather than stopping with a false
// "want open, invite or closed" (issue 11, item 14); a mode that is none
// is a usage error, told before anything is opened.
func TestServe_SignupFullDisk(t *testing.T) {
	status, out := runServeBinary(t, "--data", filepath.Join(t.TempDir(), "data"), "--signup", "sometimes")
	if status != 2 || !strings.Contains(out, `--signup "sometimes": want open, invite or closed`) {
		t.Errorf("--signup sometimes: exit status %d, want 2 and a usage error:\n%s", status, out)
	}

	mnt := mountTmpfs(t, 12<<10)
	data := filepath.Join(mnt, "data")
	env := []string{"PIXPOOL_ADMIN_PASSWORD=correct horse battery"}
	startServeBinary(t, data, env, "--cache-size", "0", "--signup", "closed").stop(t)
	fillDisk(t, mnt)
	srv := startServeBinary(t, data, env, "--cache-size", "0", "--signup", "invite")
	resp, err := http.Get(srv.url + "/signup")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /signup on a full disk: status %d, want 200", resp.StatusCode)
	}
	if !strings.Contains(srv.output(), "--signup not stored") {
		t.Errorf("no warning that --signup was not stored:\n%s", srv.output())
	}
	srv.stop(t)
}

func TestHolderGone(t *testing.T) {
	if pidScope() == "" {
		t.Skip("no /proc here: no holder can be proven gone")
	}
	host, _ := os.Hostname()
	me := newHolder()
	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	myStart, err := processStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	holder := func(host string, pid int, scope, start string) string {
		return host + "/" + strconv.Itoa(pid) + "/abcdefgh/" + scope + "/" + start
	}
	for _, tc := range []struct {
		name, holder string
		want         bool
	}{
		{"Self", me, false},
		{"AnotherOfThisProcess", holder(host, os.Getpid(), pidScope(), myStart), false},
		{"Ended", holder(host, ended.Process.Pid, pidScope(), "12345"), true},
		{"PidReused", holder(host, os.Getpid(), pidScope(), myStart+"0"), true},
		{"OtherHost", holder(host+"x", ended.Process.Pid, pidScope(), "12345"), false},
		{"OtherBootOrNamespace", holder(host, ended.Process.Pid, "x"+pidScope(), "12345"), false},
		{"NoScope", holder(host, ended.Process.Pid, "", "12345"), false},
		{"OldFormat", host + "/" + strconv.Itoa(ended.Process.Pid) + "/abcdefgh", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := holderGone(tc.holder); got != tc.want {
				t.Errorf("holderGone(%q)=%t, want %t", tc.holder, got, tc.want)
			}
		})
	}
}

// TestServe_TakeoverAfterCrash kills a server with SIGKILL and starts
// another on its data folder: the new one leads the cache pool (holds the
// lease, with its own nodes) as soon as it is ready, instead of sending
// reads to the dead one's nodes until the lease runs out; and the dead
// one's nodes do not outlive it.
func TestServe_TakeoverAfterCrash(t *testing.T) {
	data := t.TempDir()
	env := []string{"PIXPOOL_ADMIN_PASSWORD=correct horse battery"}
	first := startServeBinary(t, data, env, "--cache-size", "2")
	c := &client{t: t, base: first.url, key: strings.TrimSpace(cli(t, data, "", "apikey", "create", "admin"))}
	photo := noisyJPEG(t, 1)
	expect(t, c.do("PUT", keyPath("cat"), bytes.NewReader(photo)), http.StatusCreated)
	nodes := regexp.MustCompile(`msg="cache node started".* addr=(\S+)`).FindAllStringSubmatch(first.output(), -1)
	if len(nodes) != 2 {
		t.Fatalf("want 2 cache nodes started, log says:\n%s", first.output())
	}

	first.cmd.Process.Kill()
	<-first.exited
	killed := time.Now()
	// The nodes get SIGTERM when their parent dies, and exit.
	for _, n := range nodes {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			conn, err := net.Dial("tcp", n[1])
			if err != nil {
				break
			}
			conn.Close()
			if time.Now().After(deadline) {
				t.Fatalf("cache node %s of the killed server still answers", n[1])
			}
		}
	}

	restarted := time.Now()
	second := startServeBinary(t, data, env, "--cache-size", "2")
	ready := time.Since(restarted)
	st, err := sqlite.Open(filepath.Join(data, "pixpool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	holder, err := st.LeaseHolder(t.Context(), leaseName)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/" + strconv.Itoa(second.cmd.Process.Pid) + "/"; !strings.Contains(holder, want) {
		t.Errorf("once the new server is ready the pool lease is held by %q, want the new process (pid %s)", holder, want)
	}
	if !strings.Contains(second.output(), "leader=true") {
		t.Errorf("the new server does not lead the cache pool:\n%s", second.output())
	}
	c.base = second.url
	if got := expect(t, c.do("GET", keyPath("cat"), nil), http.StatusOK); !bytes.Equal(got, photo) {
		t.Errorf("read %d bytes, want %d", len(got), len(photo))
	}
	t.Logf("takeover: the new server was ready and leading %v after its start (%v after the kill)", ready.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	second.stop(t)
}
