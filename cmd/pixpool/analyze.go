package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
	"unicode"

	"github.com/pixpool/pixpool/imaging"
	"github.com/pixpool/pixpool/recognize/labels"
)

// runAnalyze prints what recognition finds in a local image: the labels
// with their confidence and box, and the lines of text. It is the quick
// way to check a recognition setup.
func runAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./pixpool-data", "data folder, where the models are looked for first")
	recDir := recognitionFlag(fs)
	minConf := fs.Float64("min-confidence", 30, "smallest label confidence shown (0-100)")
	minText := fs.Float64("min-text-confidence", 60, "smallest text line confidence shown (0-100); photos without text yield low-confidence noise")
	timeout := fs.Duration("timeout", time.Minute, "time limit for the image")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: pixpool analyze [--data DIR] [--recognition-dir DIR] FILE\n\nPrints the labels and the text recognised in an image.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: pixpool analyze [--data DIR] [--recognition-dir DIR] FILE")
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	// The same checks as an upload: judged by content, pixel count bounded
	// before decoding.
	info, img, err := imaging.Inspect(raw, 0)
	if err != nil {
		return userErr(err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	fmt.Fprintf(stdout, "%s: %s, %d x %d\n", fs.Arg(0), info.ContentType, info.Width, info.Height)

	dir, missing := findRecognition(recognitionDirs(*data, *recDir))
	if dir == "" {
		fmt.Fprintf(stdout, "\nlabels: not available: %s\n", missing)
	} else if det, err := labels.Open(dir); err != nil {
		fmt.Fprintf(stdout, "\nlabels: not available: %v; run scripts/setup-recognition.sh %s to reinstall it\n", err, dir)
	} else {
		det.MinConfidence = *minConf
		det.Threads = 1 // one thread, as serve's workers run it: the times and memory shown are serve's
		start := time.Now()
		found, err := det.Detect(ctx, img)
		if err != nil {
			return fmt.Errorf("labels: %w", err)
		}
		fmt.Fprintf(stdout, "\nlabels (%v, detector in %s):\n", time.Since(start).Round(time.Millisecond), filepath.Join(dir, "recognition"))
		if len(found) == 0 {
			fmt.Fprintln(stdout, "  none above the minimum confidence")
		}
		for _, l := range found {
			fmt.Fprintf(stdout, "  %-16s %5.1f%%  box (%d,%d)-(%d,%d)\n", l.Name, l.Confidence, l.Box.Min.X, l.Box.Min.Y, l.Box.Max.X, l.Box.Max.Y)
		}
	}

	r, missing, partly := textReader(recognitionDirs(*data, *recDir))
	if r == nil {
		fmt.Fprintf(stdout, "\ntext: not available: %s\n", missing)
		return nil
	}
	if partly != "" {
		fmt.Fprintf(stdout, "\ntext: %s\n", partly)
	}
	r.MinConfidence = *minText
	start := time.Now()
	lines, err := r.Read(ctx, img)
	if err != nil {
		return fmt.Errorf("text: %w", err)
	}
	fmt.Fprintf(stdout, "\ntext (%v):\n", time.Since(start).Round(time.Millisecond))
	shown := 0
	for _, l := range lines {
		if wordy(l.Text) {
			fmt.Fprintf(stdout, "  %5.1f%%  %s\n", l.Confidence, l.Text)
			shown++
		}
	}
	if shown == 0 {
		fmt.Fprintln(stdout, "  none")
	}
	return nil
}

// wordy reports whether a line read from an image has at least three
// letters or digits: shorter ones are, in photos, texture taken for text.
func wordy(s string) bool {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n >= 3
}
