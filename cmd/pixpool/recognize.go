package main

import (
	"context"
	"image"
	"log/slog"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/recognize/labels"
	"github.com/pixpool/pixpool/recognize/text"
	"github.com/pixpool/pixpool/service"
)

// newAnalyzer wires recognition: the detector from the models that
// scripts/setup-recognition.sh put in c.Data, and Tesseract for text. What
// is missing is logged and shown to users; the rest of pixpool runs
// without it. Both pause while serving is busy: see service.Activity.
func newAnalyzer(st pixpool.Store, blobs pixpool.BlobStore, c *Config, serving *service.Activity, log *slog.Logger) *service.Analyzer {
	a := &service.Analyzer{Store: st, Blobs: blobs, Workers: c.AnalyzeWorkers, Timeout: c.AnalyzeTimeout, Serving: serving, Logger: log}
	if det, err := labels.Open(c.Data); err != nil {
		a.LabelsMissing = "run scripts/setup-recognition.sh " + c.Data + " to install the detector."
		log.Warn("labels not available", "err", err)
	} else {
		det.Threads = 1 // on the worker's niced thread; see service.Analyzer
		det.Yield = serving.Wait
		a.Labels = labelFunc(det)
	}
	if err := text.Available(); err != nil {
		a.TextMissing = "install Tesseract: apt-get install tesseract-ocr tesseract-ocr-eng."
		log.Warn("text recognition not available", "err", err)
	} else {
		// The analyzer's limit, which leaves out the pauses for serving, is
		// the one that applies; the reader's own, which counts them, only
		// backs it up.
		r := &text.Reader{MinConfidence: 60, Timeout: 10 * max(c.AnalyzeTimeout, time.Minute), Pause: serving}
		a.TextMemory = text.Memory
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
