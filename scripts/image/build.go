package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pixpool/pixpool/childenv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// options are what one image is built from.
type options struct {
	Binary      string    // the pixpool binary, /pixpool in the image
	Recognition string    // setup-recognition.sh's folder; "" builds the plain image
	Out         string    // the OCI layout tarball written
	Version     string    // label and reference name
	Licenses    string    // SPDX expression for the licenses label
	Epoch       time.Time // every timestamp in the image
}

// Where things go in the image.
const (
	nonroot        = 65532
	home           = "/home/nonroot"
	dataDir        = "/var/lib/pixpool"
	recognitionDir = "/opt/pixpool" // holds recognition/, as --recognition-dir expects
	tessdata       = "/usr/share/tesseract-ocr/5/tessdata"
	packagesFile   = "/usr/share/pixpool/packages.txt"
	hostCerts      = "/etc/ssl/certs/ca-certificates.crt"
)

// recognitionFiles are the files of setup-recognition.sh's folder the
// recognition variant ships (its testdata/ stays out).
var recognitionFiles = []string{"libonnxruntime.so.1", "centernet.json", "centernet.bin", "ocr-det.onnx", "ocr-rec.onnx", "ocr-keys.txt", "coco.names"}

// build writes the image o describes to o.Out and returns its manifest digest.
func build(o options) (v1.Hash, error) {
	img, err := image(o)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	name := "pixpool"
	if o.Recognition != "" {
		name = "pixpool-recognition"
	}
	return digest, writeLayout(img, name+":"+o.Version, o.Out, o.Epoch)
}

// image assembles the image's layers and config.
func image(o options) (v1.Image, error) {
	if _, err := os.Stat(o.Binary); err != nil {
		return nil, fmt.Errorf("%w: build it first (make build, or make image which does)", err)
	}
	var base, extra, app layer
	pkgs := map[string]string{} // Debian package -> version
	// The base: the binary's libraries, certificates, users, folders.
	if err := base.libraries(pkgs, o.Binary); err != nil {
		return nil, err
	}
	if err := base.hostFile(pkgs, hostCerts, hostCerts, 0o644); err != nil {
		return nil, fmt.Errorf("%w: install the ca-certificates package", err)
	}
	base.file("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:"+home+":/sbin/nologin\n"))
	base.file("/etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n"))
	base.file("/etc/nsswitch.conf", 0o644, []byte("passwd: files\ngroup: files\nhosts: files dns\n"))
	base.dir("/tmp", 0o1777|fs.ModeSticky, 0)
	base.dir(home, 0o755, nonroot)
	base.dir(dataDir, 0o755, nonroot)
	base.symlink("/lib", "usr/lib")
	base.symlink("/lib64", "usr/lib64")
	base.symlink("/bin", "usr/bin")

	layers := []*layer{&base}
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + home,
		"SSL_CERT_FILE=" + hostCerts,
		"PIXPOOL_ADDR=:8080",
		"PIXPOOL_DATA=" + dataDir,
	}
	if o.Recognition != "" {
		tess, err := exec.LookPath("tesseract")
		if err != nil {
			return nil, fmt.Errorf("the recognition image needs Tesseract: apt-get install tesseract-ocr tesseract-ocr-eng (%v)", err)
		}
		if err := extra.hostFile(pkgs, tess, "/usr/bin/tesseract", 0o755); err != nil {
			return nil, err
		}
		if err := extra.libraries(pkgs, tess); err != nil {
			return nil, err
		}
		if err := extra.hostTree(pkgs, tessdata, func(rel string) bool { return rel != "osd.traineddata" }); err != nil {
			return nil, fmt.Errorf("%w: apt-get install tesseract-ocr-eng", err)
		}
		src := filepath.Join(o.Recognition, "recognition")
		for _, f := range recognitionFiles {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				return nil, fmt.Errorf("%w: run scripts/setup-recognition.sh %s", err, o.Recognition)
			}
			extra.file(path.Join(recognitionDir, "recognition", f), 0o644, b)
		}
		// ONNX Runtime is opened by purego at run time: its libraries too.
		if err := extra.libraries(pkgs, filepath.Join(src, "libonnxruntime.so.1")); err != nil {
			return nil, err
		}
		env = append(env, "PIXPOOL_RECOGNITION_DIR="+recognitionDir)
		layers = append(layers, &extra)
	}
	base.file(packagesFile, 0o644, packageList(pkgs))
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, err
	}
	app.file("/pixpool", 0o755, bin)
	layers = append(layers, &app)

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i, l := range layers {
		b, err := l.tar(o.Epoch)
		if err != nil {
			return nil, err
		}
		tl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: tl, History: v1.History{
			Created: v1.Time{Time: o.Epoch}, CreatedBy: "scripts/image", Comment: layerComment(i, len(layers)),
		}})
		if err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: o.Epoch}
	cf.Author = "pixpool"
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", nonroot, nonroot),
		Entrypoint:   []string{"/pixpool"},
		Cmd:          []string{"serve"},
		WorkingDir:   home,
		Env:          env,
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "11211/tcp": {}},
		Labels: map[string]string{
			"org.opencontainers.image.source":      "https://github.com/pixpool/pixpool",
			"org.opencontainers.image.version":     o.Version,
			"org.opencontainers.image.licenses":    o.Licenses,
			"org.opencontainers.image.title":       map[bool]string{false: "pixpool", true: "pixpool-recognition"}[o.Recognition != ""],
			"org.opencontainers.image.description": "pixpool: photo storage with an elastic in-memory cache pool",
		},
	}
	return mutate.ConfigFile(img, cf)
}

// layerComment names layer i of n in the image's history.
func layerComment(i, n int) string {
	switch {
	case i == 0:
		return "base: glibc, CA certificates, users, folders"
	case i == n-1:
		return "the pixpool binary"
	default:
		return "recognition: Tesseract, models, ONNX Runtime"
	}
}

// packageList renders pkgs as "name version" lines, sorted.
func packageList(pkgs map[string]string) []byte {
	var lines []string
	for p, v := range pkgs {
		lines = append(lines, p+" "+v+"\n")
	}
	sort.Strings(lines)
	return []byte("# Debian packages the files of this image were taken from, with their versions\n" + strings.Join(lines, ""))
}

// entry is one file, folder or symbolic link of a layer.
type entry struct {
	mode fs.FileMode
	uid  int
	data []byte
	link string
}

// layer is a set of entries by absolute path.
type layer struct{ entries map[string]entry }

func (l *layer) add(name string, e entry) {
	if l.entries == nil {
		l.entries = map[string]entry{}
	}
	l.entries[path.Clean(name)] = e
}

func (l *layer) file(name string, mode fs.FileMode, data []byte) {
	l.add(name, entry{mode: mode, data: data})
}

func (l *layer) dir(name string, mode fs.FileMode, uid int) {
	l.add(name, entry{mode: mode | fs.ModeDir, uid: uid})
}

func (l *layer) symlink(name, target string) {
	l.add(name, entry{mode: fs.ModeSymlink | 0o777, link: target})
}

// imagePath is where host path p goes: under /usr, as the image's /lib,
// /lib64 and /bin are links into /usr (as on Debian with merged /usr).
func imagePath(p string) string {
	for _, d := range []string{"/lib/", "/lib64/", "/bin/"} {
		if strings.HasPrefix(p, d) {
			return "/usr" + p
		}
	}
	return p
}

// hostFile copies host file src (through symbolic links) to name, and
// records the Debian package src belongs to.
func (l *layer) hostFile(pkgs map[string]string, src, name string, mode fs.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := recordPackage(pkgs, src); err != nil {
		return err
	}
	l.file(imagePath(name), mode, b)
	return nil
}

// hostTree copies the host folder root to the same place, keeping the files
// keep accepts (by path relative to root).
func (l *layer) hostTree(pkgs map[string]string, root string, keep func(rel string) bool) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() || !keep(rel) {
			return nil
		}
		return l.hostFile(pkgs, p, p, 0o644)
	})
}

// libraries adds the shared libraries ELF file bin needs, as ldd lists them
// (with the loader), each at the path ldd names it by.
func (l *layer) libraries(pkgs map[string]string, bin string) error {
	out, err := hostCommand("ldd", bin).Output()
	if err != nil {
		return fmt.Errorf("ldd %s: %v (is it a dynamically linked linux/amd64 ELF file?)", bin, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var p string
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			p = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			p = f[0] // the loader
		case len(f) >= 3 && f[1] == "=>" && f[2] == "not":
			return fmt.Errorf("ldd %s: %s is not found: install the Debian package that has it", bin, f[0])
		default:
			continue // linux-vdso, from the kernel
		}
		if err := l.hostFile(pkgs, p, p, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// recordPackage records the Debian package and version owning host file p.
func recordPackage(pkgs map[string]string, p string) error {
	candidates := []string{p}
	if r, err := filepath.EvalSymlinks(p); err == nil && r != p {
		candidates = append(candidates, r)
	}
	for _, c := range append([]string(nil), candidates...) {
		if strings.HasPrefix(c, "/usr/") {
			candidates = append(candidates, strings.TrimPrefix(c, "/usr"))
		} else {
			candidates = append(candidates, "/usr"+c)
		}
	}
	for _, c := range candidates {
		out, err := hostCommand("dpkg-query", "-S", c).Output()
		if err != nil {
			continue
		}
		line, _, _ := strings.Cut(string(out), "\n")
		pkg, _, ok := strings.Cut(line, ": ")
		if !ok || strings.Contains(pkg, ",") {
			continue
		}
		return recordVersion(pkgs, pkg)
	}
	if strings.HasSuffix(p, "libonnxruntime.so.1") {
		return nil // from npm, pinned by scripts/setup-recognition.sh
	}
	if p == hostCerts { // made by update-ca-certificates from the package's files
		return recordVersion(pkgs, "ca-certificates")
	}
	return fmt.Errorf("%s belongs to no installed Debian package: the image takes its files from Debian packages only", p)
}

// recordVersion records the installed version of Debian package pkg.
func recordVersion(pkgs map[string]string, pkg string) error {
	v, err := hostCommand("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil {
		return fmt.Errorf("dpkg-query -W %s: %v: is the package installed?", pkg, err)
	}
	pkgs[pkg] = string(v)
	return nil
}

// tar renders the layer: entries sorted with their parent folders, owned
// by root but for the nonroot user's folders, all dated epoch.
func (l *layer) tar(epoch time.Time) ([]byte, error) {
	all := map[string]entry{}
	for name, e := range l.entries {
		all[name] = e
		for d := path.Dir(name); d != "/"; d = path.Dir(d) {
			if _, ok := l.entries[d]; !ok {
				all[d] = entry{mode: fs.ModeDir | 0o755}
			}
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := all[n]
		h := &tar.Header{
			Name:    strings.TrimPrefix(n, "/"),
			Mode:    int64(e.mode.Perm()),
			Uid:     e.uid,
			Gid:     e.uid,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		if e.mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		switch {
		case e.mode.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case e.mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeLayout writes img as an OCI image layout tagged ref into the tarball
// out, its entries sorted and dated epoch.
func writeLayout(img v1.Image, ref, out string, epoch time.Time) error {
	dir, err := os.MkdirTemp("", "pixpool-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref,
	})); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(out), ".pixpool-image-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	tw := tar.NewWriter(f)
	var names []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, p := range names {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: epoch, Format: tar.FormatPAX}
		if fi.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
		} else {
			h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.IsDir() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			if err != nil {
				return err
			}
		}
	}
	if err := errors.Join(tw.Close(), f.Chmod(0o644), f.Close()); err != nil {
		return err
	}
	return os.Rename(f.Name(), out)
}

// hostCommand runs a tool of the building machine (ldd, dpkg-query) with the
// environment childenv gives programs: none of this process's secrets.
func hostCommand(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = childenv.Env(nil)
	return cmd
}
