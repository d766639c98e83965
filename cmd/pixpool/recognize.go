package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/recognize/labels"
	"github.com/pixpool/pixpool/recognize/text"
	"github.com/pixpool/pixpool/service"
)

// recognitionFlag adds --recognition-dir (PIXPOOL_RECOGNITION_DIR) to fs.
func recognitionFlag(fs *flag.FlagSet) *string {
	return fs.String("recognition-dir", "", "folder given to scripts/setup-recognition.sh, holding recognition/, used alone (default: --data if it has the models, else $XDG_CACHE_HOME/pixpool, else ~/.cache/pixpool, where make serve and make test put them)")
}

// recognitionDirs returns the folders that may hold the models
// scripts/setup-recognition.sh DIR installs in DIR/recognition/, in the
// order they are tried: explicit (--recognition-dir) alone if given; else
// the data folder, then the user's shared cache folder, pixpool in
// $XDG_CACHE_HOME if that is an absolute path (as os.UserCacheDir on
// Linux), then in $HOME/.cache, where make serve and make test install
// them.
func recognitionDirs(data, explicit string) []string {
	if explicit != "" {
		return []string{explicit}
	}
	dirs := []string{data}
	if x := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(x) {
		dirs = append(dirs, filepath.Join(x, "pixpool"))
	}
	if h := os.Getenv("HOME"); h != "" {
		dirs = append(dirs, filepath.Join(h, ".cache", "pixpool"))
	}
	return slices.Compact(dirs)
}

// findRecognition returns the first of dirs whose recognition/ holds the
// detector, or "" and what to tell users: where it looked and the command
// that installs it (into the shared cache folder, the second of
// recognitionDirs' default list, as make serve does, or the only one).
func findRecognition(dirs []string) (dir, missing string) {
	for _, d := range dirs {
		if labels.Installed(d) == nil {
			return d, ""
		}
	}
	looked := make([]string, len(dirs))
	for i, d := range dirs {
		looked[i] = filepath.Join(d, "recognition")
	}
	if len(dirs) == 1 {
		return "", "the detector is not in " + looked[0] + "; run scripts/setup-recognition.sh " + dirs[0] + " to install it."
	}
	return "", "the detector is in none of " + strings.Join(looked, ", ") + "; run make serve, or scripts/setup-recognition.sh " + dirs[1] + ", to install it."
}

// newAnalyzer wires recognition: the detector from the models that
// scripts/setup-recognition.sh put in the first of c.RecognitionDirs that
// has them, and for text the scene text models and Tesseract (textReader).
// What is missing is logged and shown to users; the rest of pixpool runs
// without it. Both pause while serving is busy: see service.Activity.
func newAnalyzer(st pixpool.Store, blobs pixpool.BlobStore, c *Config, serving *service.Activity, log *slog.Logger) *service.Analyzer {
	a := &service.Analyzer{Store: st, Blobs: blobs, Workers: c.AnalyzeWorkers, Timeout: c.AnalyzeTimeout, Serving: serving, Logger: log}
	dirs := c.RecognitionDirs
	if len(dirs) == 0 {
		dirs = []string{c.Data}
	}
	dir, missing := findRecognition(dirs)
	if dir == "" {
		a.LabelsMissing = missing
		log.Warn("labels not available: " + missing)
	} else if det, err := labels.Open(dir); err != nil {
		a.LabelsMissing = "the detector in " + filepath.Join(dir, "recognition") + " does not load; run scripts/setup-recognition.sh " + dir + " to reinstall it."
		log.Warn("labels not available: "+a.LabelsMissing, "err", err)
	} else {
		log.Info("labels from the detector in "+filepath.Join(dir, "recognition"), "engine", det.Engine())
		det.Threads = 1 // on the worker's niced thread; see service.Analyzer
		det.Yield = serving.Wait
		a.Labels = labelFunc(det)
	}
	r, missing, partly := textReader(dirs)
	switch {
	case partly != "":
		log.Warn("text recognition: " + partly)
	case r != nil:
		log.Info("text from the scene text models, pages from Tesseract")
	}
	if r == nil {
		a.TextMissing = missing
		log.Warn("text recognition not available: " + missing)
	} else {
		// The analyzer's limit, which leaves out the pauses for serving, is
		// the one that applies; the reader's own, which counts them, only
		// backs it up.
		r.MinConfidence, r.Timeout, r.Pause = 60, 10*max(c.AnalyzeTimeout, time.Minute), serving
		a.TextMemory = r.Memory
		a.Text = func(ctx context.Context, img image.Image) ([]pixpool.TextLine, error) {
			lines, err := r.Read(ctx, img)
			var out []pixpool.TextLine
			for _, l := range lines {
				if wordy(l.Text) { // photos without text yield texture read as text
					out = append(out, pixpool.TextLine{Text: l.Text, Confidence: l.Confidence, Box: box(l.Box)})
				}
			}
			return out, err
		}
	}
	return a
}

// textReader sets up text recognition: PaddleOCR's scene text models from
// the first of dirs that holds them, which read text in photos, and
// Tesseract, which reads pages of text faster (see text.Reader.Scene); one
// of them is enough. It returns nil and what to tell users when neither is
// there, and in partly what is missing when one is.
func textReader(dirs []string) (r *text.Reader, missing, partly string) {
	const tesseractHint = "install Tesseract: apt-get install tesseract-ocr tesseract-ocr-eng."
	r = &text.Reader{}
	var sceneErr error
	var lacks []string // what each folder lacks, as SceneInstalled says
	for _, d := range dirs {
		err := text.SceneInstalled(d)
		if err != nil {
			lacks = append(lacks, strings.TrimPrefix(err.Error(), text.ErrSceneNotInstalled.Error()+": "))
		}
		if err == nil {
			r.Scene, sceneErr = text.OpenScene(d)
			if sceneErr != nil {
				sceneErr = fmt.Errorf("%w; run scripts/setup-recognition.sh %s to reinstall them", sceneErr, d)
			}
			break
		}
	}
	if r.Scene == nil && sceneErr == nil {
		looked := make([]string, len(dirs))
		for i, d := range dirs {
			looked[i] = filepath.Join(d, "recognition")
		}
		// Name what is missing: a folder may hold the models but not ONNX
		// Runtime, which they need.
		sceneErr = fmt.Errorf("the scene text models and ONNX Runtime are in none of %s (%s); run scripts/setup-recognition.sh %s to install them", strings.Join(looked, ", "), strings.Join(lacks, "; "), dirs[min(1, len(dirs)-1)])
	}
	tessErr := text.Available()
	switch {
	case r.Scene == nil && tessErr != nil:
		return nil, sceneErr.Error() + "; or " + tesseractHint, ""
	case r.Scene == nil:
		return r, "", "text in photos is read by Tesseract alone, which misses most of it: " + sceneErr.Error()
	case tessErr != nil:
		return r, "", "pages of text are read by the scene text models alone, which take about twice as long: " + tesseractHint
	}
	return r, "", ""
}

// labelFunc runs det for an Analyzer.
func labelFunc(det *labels.Detector) service.LabelFunc {
	return func(ctx context.Context, img image.Image) ([]pixpool.Label, error) {
		found, err := det.Detect(ctx, img)
		out := make([]pixpool.Label, len(found))
		for i, l := range found {
			out[i] = pixpool.Label{Name: l.Name, Confidence: l.Confidence, Box: box(l.Box)}
		}
		return out, err
	}
}

func box(r image.Rectangle) pixpool.Box {
	return pixpool.Box{X0: r.Min.X, Y0: r.Min.Y, X1: r.Max.X, Y1: r.Max.Y}
}
