package pixpooltest

import (
	"errors"
	"image"
	_ "image/jpeg" // the photos of scripts/setup-recognition.sh
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// RecognitionDir is the directory given to scripts/setup-recognition.sh:
// env PIXPOOL_RECOGNITION_DIR, else the default data folder ./pixpool-data
// at the root of the module holding the working directory.
func RecognitionDir() string {
	if d := os.Getenv("PIXPOOL_RECOGNITION_DIR"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return "pixpool-data"
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "pixpool-data")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, "pixpool-data")
		}
	}
}

// RecognitionPhoto decodes one of the photos scripts/setup-recognition.sh
// puts in RecognitionDir()/recognition/testdata/, and skips the test when it
// is not there (OpenCV's photos come only with --tests, as make test runs it).
func RecognitionPhoto(tb testing.TB, name string) image.Image {
	tb.Helper()
	f, err := os.Open(filepath.Join(RecognitionDir(), "recognition", "testdata", name))
	if errors.Is(err, fs.ErrNotExist) {
		tb.Skipf("%v: run scripts/setup-recognition.sh --tests %s", err, RecognitionDir())
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}
