package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/recognize/text"
)

// fakeModels puts empty files named as the detector's in dir/recognition/:
// enough for the search, which only looks for them.
func fakeModels(t *testing.T, dir string) {
	t.Helper()
	base := filepath.Join(dir, "recognition")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"centernet.json", "centernet.bin", "coco.names"} {
		if err := os.WriteFile(filepath.Join(base, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// recognitionHomes gives the process a data folder, $XDG_CACHE_HOME and
// $HOME of its own, all empty, and no PIXPOOL_RECOGNITION_DIR.
func recognitionHomes(t *testing.T) (data, xdg, home string) {
	data, xdg, home = t.TempDir(), t.TempDir(), t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	t.Setenv("HOME", home)
	t.Setenv("PIXPOOL_RECOGNITION_DIR", "")
	return data, xdg, home
}

// TestRecognitionDirOrder: serve and analyze take the models from the
// folder given with --recognition-dir alone; else from the data folder,
// then $XDG_CACHE_HOME/pixpool, then ~/.cache/pixpool, the first that has
// them.
func TestRecognitionDirOrder(t *testing.T) {
	for _, tc := range []struct {
		name      string
		installed []string // of data, explicit, xdg, home
		explicit  bool
		noXDG     string // XDG_CACHE_HOME's value instead of its folder, if set
		want      string // "" is none
	}{
		{name: "data first", installed: []string{"data", "xdg", "home"}, want: "data"},
		{name: "xdg when data has none", installed: []string{"xdg", "home"}, want: "xdg"},
		{name: "home when xdg has none", installed: []string{"home"}, want: "home"},
		{name: "home when xdg unset", installed: []string{"xdg", "home"}, noXDG: " ", want: "home"},
		{name: "home when xdg relative", installed: []string{"xdg", "home"}, noXDG: "cache", want: "home"},
		{name: "explicit wins", installed: []string{"data", "explicit", "xdg", "home"}, explicit: true, want: "explicit"},
		{name: "explicit alone", installed: []string{"data", "xdg", "home"}, explicit: true, want: ""},
		{name: "none", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, xdgHome, home := recognitionHomes(t)
			xdg := filepath.Join(xdgHome, "pixpool")
			explicit := t.TempDir()
			dirs := map[string]string{"data": data, "explicit": explicit, "xdg": xdg, "home": filepath.Join(home, ".cache", "pixpool")}
			for _, k := range tc.installed {
				fakeModels(t, dirs[k])
			}
			switch tc.noXDG {
			case "":
			case " ":
				os.Unsetenv("XDG_CACHE_HOME") // t.Setenv restores it
			default:
				t.Setenv("XDG_CACHE_HOME", tc.noXDG)
			}
			given := ""
			if tc.explicit {
				given = explicit
			}
			got, missing := findRecognition(recognitionDirs(data, given))
			if got != dirs[tc.want] {
				t.Fatalf("found %q, want %s (%q)", got, tc.want, dirs[tc.want])
			}
			if (got == "") != (missing != "") {
				t.Fatalf("found %q, missing %q", got, missing)
			}
			if got != "" {
				return
			}
			// What users are told names every place looked in and the command.
			want := []string{"scripts/setup-recognition.sh " + explicit, filepath.Join(explicit, "recognition")}
			if !tc.explicit {
				want = []string{"make serve", "scripts/setup-recognition.sh " + xdg, filepath.Join(data, "recognition"), filepath.Join(xdg, "recognition"), filepath.Join(dirs["home"], "recognition")}
			}
			for _, w := range want {
				if !strings.Contains(missing, w) {
					t.Errorf("missing %q lacks %q", missing, w)
				}
			}
		})
	}
}

// TestAnalyze_RecognitionDir: pixpool analyze looks in the data folder and
// the user's cache folders, says where when the models are in none, and
// uses the cache folder's.
func TestAnalyze_RecognitionDir(t *testing.T) {
	models := os.Getenv("PIXPOOL_RECOGNITION_DIR") // the real models, if make test fetched them
	data, xdg, home := recognitionHomes(t)
	photo := filepath.Join(t.TempDir(), "x.png")
	if err := os.WriteFile(photo, pixpooltest.PNG(t, 8, 8, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"analyze", "--data", data, photo}, nil, &out, &errOut); err != nil {
		t.Fatalf("analyze: %v %s", err, errOut.String())
	}
	for _, want := range []string{"labels: not available", filepath.Join(data, "recognition"), filepath.Join(xdg, "pixpool", "recognition"), filepath.Join(home, ".cache", "pixpool", "recognition"), "make serve"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	// PIXPOOL_RECOGNITION_DIR is --recognition-dir: only it is looked in.
	explicit := t.TempDir()
	t.Setenv("PIXPOOL_RECOGNITION_DIR", explicit)
	out.Reset()
	if err := run(context.Background(), []string{"analyze", "--data", data, photo}, nil, &out, &errOut); err != nil {
		t.Fatalf("analyze: %v %s", err, errOut.String())
	}
	if s := out.String(); !strings.Contains(s, "scripts/setup-recognition.sh "+explicit) || strings.Contains(s, filepath.Join(data, "recognition")) {
		t.Fatalf("with PIXPOOL_RECOGNITION_DIR:\n%s", s)
	}
	t.Setenv("PIXPOOL_RECOGNITION_DIR", "")

	if models == "" {
		recognitionDir(t) // skips, or fails in CI
	}
	if err := os.MkdirAll(filepath.Join(home, ".cache", "pixpool"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(models, "recognition"), filepath.Join(home, ".cache", "pixpool", "recognition")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"analyze", "--data", data, photo}, nil, &out, &errOut); err != nil {
		t.Fatalf("analyze: %v %s", err, errOut.String())
	}
	if want := "detector in " + filepath.Join(home, ".cache", "pixpool", "recognition"); !strings.Contains(out.String(), want) {
		t.Fatalf("output lacks %q:\n%s", want, out.String())
	}
}

// TestServe_RecognitionDir: pixpool serve logs once at start where it
// looked for the models, or where it found them, in the same order.
func TestServe_RecognitionDir(t *testing.T) {
	data, xdg, home := recognitionHomes(t)
	env := []string{"XDG_CACHE_HOME=" + xdg, "HOME=" + home, "PIXPOOL_RECOGNITION_DIR="}
	p := startServeBinary(t, data, env, "--analyze=true", "--cache-size", "0")
	log := p.output()
	want := "labels not available: the detector is in none of " + filepath.Join(data, "recognition") + ", " + filepath.Join(xdg, "pixpool", "recognition") + ", " + filepath.Join(home, ".cache", "pixpool", "recognition") + "; run make serve"
	if strings.Count(log, "labels not available") != 1 || !strings.Contains(log, want) {
		t.Fatalf("serve's log lacks %q once:\n%s", want, log)
	}
	p.stop(t)

	fakeModels(t, filepath.Join(xdg, "pixpool"))
	p = startServeBinary(t, data, env, "--analyze=true", "--cache-size", "0")
	// Empty files: found in the cache folder, then refused by the loader.
	if log, want := p.output(), "the detector in "+filepath.Join(xdg, "pixpool", "recognition")+" does not load"; !strings.Contains(log, want) {
		t.Fatalf("serve's log lacks %q:\n%s", want, log)
	}
	p.stop(t)

	p = startServeBinary(t, data, env, "--cache-size", "0")
	if log := p.output(); !strings.Contains(log, "recognition off (--analyze=false)") {
		t.Fatalf("serve's log with --analyze=false:\n%s", log)
	}
}

// TestTextReader: text is read with the scene text models when a folder
// has them, with Tesseract alone otherwise, and users are told what is
// missing.
func TestTextReader(t *testing.T) {
	if err := text.Available(); err != nil {
		t.Skip(err)
	}
	empty := t.TempDir()
	r, missing, partly := textReader([]string{empty})
	if r == nil || r.Scene != nil || missing != "" || !strings.Contains(partly, "scripts/setup-recognition.sh "+empty) {
		t.Fatalf("textReader(no models)=%v, %q, %q; want Tesseract alone, and how to install the models", r, missing, partly)
	}
	dir := recognitionDir(t)
	r, missing, partly = textReader([]string{empty, dir})
	if r == nil || r.Scene == nil || missing != "" || partly != "" {
		t.Fatalf("textReader(%s)=%v, %q, %q; want the scene text models", dir, r, missing, partly)
	}
}

// TestTextReader_NamesWhatIsMissing: a folder with the scene text models
// but without ONNX Runtime is not reported as lacking the models: users
// are told the library is missing.
func TestTextReader_NamesWhatIsMissing(t *testing.T) {
	dir := linkRecognition(t, "ocr-det.onnx", "ocr-rec.onnx", "ocr-keys.txt")
	r, missing, partly := textReader([]string{dir})
	if r != nil && r.Scene != nil {
		t.Fatalf("textReader(no library) read with the scene text models")
	}
	if msg := missing + partly; !strings.Contains(msg, filepath.Join(dir, "recognition", "libonnxruntime.so.1")+" missing") {
		t.Errorf("textReader(no library): %q; want it to name the missing library", msg)
	}
}

// TestTextReader_DamagedModelOneHint: a damaged scene text model is named,
// with the one command that reinstalls it.
func TestTextReader_DamagedModelOneHint(t *testing.T) {
	dir := linkRecognition(t, "libonnxruntime.so.1", "ocr-rec.onnx", "ocr-keys.txt")
	if err := os.WriteFile(filepath.Join(dir, "recognition", "ocr-det.onnx"), []byte("not a model\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, missing, partly := textReader([]string{dir})
	if r != nil && r.Scene != nil {
		t.Fatalf("textReader(damaged model) read with the scene text models")
	}
	msg := missing + partly
	if !strings.Contains(msg, "ocr-det.onnx") || strings.Count(msg, "setup-recognition.sh") != 1 || !strings.Contains(msg, "setup-recognition.sh "+dir) {
		t.Errorf("textReader(damaged model): %q; want the model named and one command to reinstall it", msg)
	}
}

// TestAnalyze_DamagedDetectorHowToReinstall: pixpool analyze, like serve,
// tells how to reinstall a detector that is there but does not load.
func TestAnalyze_DamagedDetectorHowToReinstall(t *testing.T) {
	data, _, _ := recognitionHomes(t)
	fakeModels(t, data) // empty files
	photo := filepath.Join(t.TempDir(), "x.png")
	if err := os.WriteFile(photo, pixpooltest.PNG(t, 8, 8, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"analyze", "--data", data, photo}, nil, &out, &errOut); err != nil {
		t.Fatalf("analyze: %v %s", err, errOut.String())
	}
	if want := "scripts/setup-recognition.sh " + data; !strings.Contains(out.String(), "labels: not available") || !strings.Contains(out.String(), want) {
		t.Fatalf("output lacks how to reinstall the detector (%q):\n%s", want, out.String())
	}
}

// linkRecognition returns a new folder whose recognition/ holds links to
// the named files of the installed models, and nothing else.
func linkRecognition(t *testing.T, files ...string) string {
	t.Helper()
	models := recognitionDir(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "recognition"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.Symlink(filepath.Join(models, "recognition", f), filepath.Join(dir, "recognition", f)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
