package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/pixpool/pixpool/pixpooltest"
)

// tools are the pixpool binary (linux/amd64, -trimpath) and the image
// builder, built once for every test of the package.
var tools struct{ dir, pixpool, builder string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pixpool-image-test-")
	if err != nil {
		panic(err)
	}
	tools.dir = dir
	tools.pixpool = filepath.Join(dir, "pixpool")
	tools.builder = filepath.Join(dir, "image")
	// Neither is built with the race detector: the builder compresses
	// large layers, and the image gets the binary make image builds.
	for _, b := range [][]string{
		{"build", "-trimpath", "-ldflags", "-s -w -X github.com/pixpool/pixpool.Version=v0.0.0-imagetest", "-o", tools.pixpool, "../../cmd/pixpool"},
		{"build", "-o", tools.builder, "."},
	} {
		cmd := exec.Command("go", b...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(b, " "), err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildImage runs the builder and returns the tarball it wrote.
func buildImage(t *testing.T, args ...string) string {
	t.Helper()
	name := "pixpool-image.tar"
	if len(args) > 0 {
		name = "pixpool-recognition-image.tar"
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(tools.builder, append([]string{"--binary", tools.pixpool, "--version", "v0.0.0-imagetest", "--out", out}, args...)...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("image %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s: %d MB in %v", filepath.Base(out), fi.Size()>>20, time.Since(start).Round(time.Millisecond))
	return out
}

// readImage reads the one image of the OCI layout tarball at tarPath back.
func readImage(t *testing.T, tarPath string) v1.Image {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		w, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(w, tr)
		if err = errors.Join(err, w.Close()); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("the layout holds %d manifests, want 1", len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// file is one entry of an image's flattened file system.
type file struct {
	header tar.Header
	data   []byte // for small regular files and /pixpool only
}

// checkConfig checks what every variant's config holds.
func checkConfig(t *testing.T, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if c.User != "65532:65532" {
		t.Errorf("User %q, want 65532:65532", c.User)
	}
	if fmt.Sprint(c.Entrypoint) != "[/pixpool]" || fmt.Sprint(c.Cmd) != "[serve]" {
		t.Errorf("Entrypoint %q Cmd %q, want [/pixpool] [serve]", c.Entrypoint, c.Cmd)
	}
	if c.WorkingDir != home {
		t.Errorf("WorkingDir %q, want %s", c.WorkingDir, home)
	}
	for _, p := range []string{"8080/tcp", "11211/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed: %v", p, c.ExposedPorts)
		}
	}
	for _, l := range []string{"org.opencontainers.image.source", "org.opencontainers.image.licenses"} {
		if c.Labels[l] == "" {
			t.Errorf("label %s missing: %v", l, c.Labels)
		}
	}
	if v := c.Labels["org.opencontainers.image.version"]; v != "v0.0.0-imagetest" {
		t.Errorf("version label %q, want v0.0.0-imagetest", v)
	}
	if !cf.Created.Time.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("created %v, want SOURCE_DATE_EPOCH", cf.Created)
	}
	for _, e := range c.Env {
		name, _, _ := strings.Cut(e, "=")
		for _, s := range []string{"PASSWORD", "SECRET", "KEY", "TOKEN", "AUTH"} {
			if strings.Contains(name, s) {
				t.Errorf("env %s looks like a secret", name)
			}
		}
	}
	if !contains(c.Env, "PIXPOOL_ADDR=:8080") {
		t.Errorf("env %q lacks PIXPOOL_ADDR=:8080", c.Env)
	}
	return cf
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkFiles checks the files every variant has, their modes and owners,
// and that nothing names this machine's folders.
func checkFiles(t *testing.T, fsys map[string]file) {
	t.Helper()
	want := map[string]struct {
		mode int64
		uid  int
	}{
		"/pixpool":                            {0o755, 0},
		"/lib64/ld-linux-x86-64.so.2":         {-1, 0}, // through the /lib64 link
		"/usr/lib64/ld-linux-x86-64.so.2":     {0o755, 0},
		"/usr/lib/x86_64-linux-gnu/libc.so.6": {0o755, 0},
		"/etc/ssl/certs/ca-certificates.crt":  {0o644, 0},
		"/etc/passwd":                         {0o644, 0},
		"/etc/group":                          {0o644, 0},
		"/tmp":                                {0o1777, 0},
		home:                                  {0o755, 65532},
		dataDir:                               {0o755, 65532},
		packagesFile:                          {0o644, 0},
	}
	for p, w := range want {
		if w.mode < 0 {
			continue
		}
		f, ok := fsys[p]
		if !ok {
			t.Errorf("%s is missing", p)
			continue
		}
		if f.header.Mode != w.mode || f.header.Uid != w.uid || f.header.Gid != w.uid {
			t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", p, f.header.Mode, f.header.Uid, f.header.Gid, w.mode, w.uid, w.uid)
		}
	}
	if l := fsys["/lib64"]; l.header.Typeflag != tar.TypeSymlink || l.header.Linkname != "usr/lib64" {
		t.Errorf("/lib64 is not a link to usr/lib64: %+v", l.header)
	}
	if p := string(fsys["/etc/passwd"].data); !strings.Contains(p, "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", p)
	}
	if g := string(fsys["/etc/group"].data); !strings.Contains(g, "nonroot:x:65532:") {
		t.Errorf("/etc/group has no nonroot group 65532:\n%s", g)
	}
	if len(fsys["/pixpool"].data) < 1<<20 {
		t.Errorf("/pixpool is %d bytes: not the binary", len(fsys["/pixpool"].data))
	}
	if p := string(fsys[packagesFile].data); !strings.Contains(p, "\nlibc6:") {
		t.Errorf("%s does not list libc6:\n%s", packagesFile, p)
	}
	hostHome, _ := os.UserHomeDir()
	wd, _ := os.Getwd()
	for p, f := range fsys {
		if f.header.ModTime.Unix() != 1700000000 {
			t.Errorf("%s dated %v, want SOURCE_DATE_EPOCH", p, f.header.ModTime)
		}
		for _, bad := range []string{hostHome, filepath.Dir(filepath.Dir(wd))} {
			if bad != "" && bad != "/" && (p == bad || strings.HasPrefix(p, bad+"/")) {
				t.Errorf("%s: a path of the building machine", p)
			}
		}
		if (strings.HasPrefix(p, "/home/") && !strings.HasPrefix(p, home)) || strings.HasPrefix(p, "/etc/shadow") {
			t.Errorf("%s should not be in the image", p)
		}
		if f.data != nil && bytes.Contains(f.data, []byte(wd)) {
			t.Errorf("%s names the building folder %s", p, wd)
		}
	}
}

// unpack reads img's flattened file system once: it returns its entries by
// absolute path and, when running as root, extracts them into a new folder
// for chroot (else root is "").
func unpack(t *testing.T, img v1.Image) (fsys map[string]file, root string) {
	t.Helper()
	if os.Geteuid() == 0 {
		root = t.TempDir()
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	fsys = map[string]file{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fsys, root
		}
		if err != nil {
			t.Fatal(err)
		}
		name := path.Clean("/" + h.Name)
		var data []byte
		if h.Size < 1<<16 || name == "/pixpool" {
			if data, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
		fsys[name] = file{*h, data}
		if root == "" {
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(name))
		mode := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			var w *os.File
			if w, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode); err == nil {
				if data != nil {
					_, err = w.Write(data)
				} else {
					_, err = io.Copy(w, tr)
				}
				err = errors.Join(err, w.Close())
			}
		default:
			t.Fatalf("%s: unexpected entry type %c", h.Name, h.Typeflag)
		}
		if err == nil && h.Typeflag != tar.TypeSymlink {
			if h.Mode&0o1000 != 0 {
				mode |= fs.ModeSticky
			}
			err = errors.Join(os.Chmod(p, mode), os.Lchown(p, h.Uid, h.Gid))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// chrootable makes the folder unpack extracted ready for chroot, with the
// /dev/null and /proc a container runtime provides; it fails the test
// without root in CI and skips it elsewhere.
func chrootable(t *testing.T, root string) {
	t.Helper()
	if root == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("running the image's binaries in a chroot needs root (CI runs as root)")
		}
		t.Skip("running the image's binaries in a chroot needs root")
	}
	for _, d := range []string{"dev", "proc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	null := filepath.Join(root, "dev/null")
	if err := syscall.Mknod(null, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(null, 0o666); err != nil {
		t.Fatal(err)
	}
	proc := filepath.Join(root, "proc")
	if err := syscall.Mount("proc", proc, "proc", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(proc, syscall.MNT_DETACH) })
}

// command runs args in root as user 65532 with env, as the image's config
// would.
func command(ctx context.Context, root string, cf *v1.ConfigFile, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Path = args[0] // resolved inside the chroot
	cmd.Dir = cf.Config.WorkingDir
	cmd.Env = cf.Config.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: nonroot, Gid: nonroot},
	}
	return cmd
}

// run runs args in the chroot and returns their output.
func run(t *testing.T, root string, cf *v1.ConfigFile, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := command(ctx, root, cf, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s in the image: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// serveHealthz runs pixpool serve in the chroot on 127.0.0.1 and checks
// that /healthz answers 200.
func serveHealthz(t *testing.T, root string, cf *v1.ConfigFile) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := command(ctx, root, cf, "/pixpool", "serve", "--addr", addr, "--data", "/tmp/data")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
	}()
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/healthz: %s\n%s", resp.Status, out.String())
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("pixpool serve in the image never answered /healthz: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestImage builds the plain image twice (same digest), reads it back and
// runs its binary in a chroot as the nonroot user.
func TestImage(t *testing.T) {
	a, b := readImage(t, buildImage(t)), readImage(t, buildImage(t))
	da, err := a.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if db, _ := b.Digest(); da != db {
		t.Errorf("two builds gave %s and %s: not reproducible", da, db)
	}
	cf := checkConfig(t, a)
	if contains(cf.Config.Env, "PIXPOOL_RECOGNITION_DIR="+recognitionDir) {
		t.Error("the plain image sets PIXPOOL_RECOGNITION_DIR")
	}
	fsys, root := unpack(t, a)
	checkFiles(t, fsys)
	if _, ok := fsys["/usr/bin/tesseract"]; ok {
		t.Error("the plain image has tesseract")
	}

	chrootable(t, root)
	if out := run(t, root, cf, "/pixpool", "version"); !strings.Contains(out, "v0.0.0-imagetest") {
		t.Errorf("pixpool version in the image: %q", out)
	}
	serveHealthz(t, root, cf)
}

// TestRecognitionImage builds the recognition variant, checks Tesseract and
// the models are in it, and analyses a photo with them in a chroot.
func TestRecognitionImage(t *testing.T) {
	dir := pixpooltest.RecognitionDir()
	photo := filepath.Join(dir, "recognition", "testdata", "scenetext01.jpg")
	if _, err := os.Stat(photo); err != nil {
		t.Skipf("%v: run scripts/setup-recognition.sh --tests %s", err, dir)
	}
	img := readImage(t, buildImage(t, "--recognition", dir))
	cf := checkConfig(t, img)
	if !contains(cf.Config.Env, "PIXPOOL_RECOGNITION_DIR="+recognitionDir) {
		t.Errorf("env %q lacks PIXPOOL_RECOGNITION_DIR", cf.Config.Env)
	}
	fsys, root := unpack(t, img)
	checkFiles(t, fsys)
	for _, p := range append([]string{"/usr/bin/tesseract", tessdata + "/eng.traineddata"}, recognitionFiles...) {
		if !strings.HasPrefix(p, "/") {
			p = path.Join(recognitionDir, "recognition", p)
		}
		if _, ok := fsys[p]; !ok {
			t.Errorf("%s is missing", p)
		}
	}
	for p := range fsys {
		if strings.Contains(p, "testdata") {
			t.Errorf("%s: test photos do not belong in the image", p)
		}
	}

	chrootable(t, root)
	if out := run(t, root, cf, "/usr/bin/tesseract", "--version"); !strings.Contains(out, "tesseract 5") {
		t.Errorf("tesseract --version in the image: %q", out)
	}
	b, err := os.ReadFile(photo)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp/photo.jpg"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, root, cf, "/pixpool", "analyze", "--data", "/tmp/data", "/tmp/photo.jpg")
	t.Logf("pixpool analyze in the image:\n%s", out)
	if !strings.Contains(strings.ToLower(out), "text") {
		t.Errorf("pixpool analyze printed no text section:\n%s", out)
	}
}
