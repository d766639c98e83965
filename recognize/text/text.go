// Package text reads English text in images: in photos (signs, captions)
// with PaddleOCR's PP-OCRv4 detector and recognizer through ONNX Runtime
// (Scene), and in pages with the Tesseract 5 command line program (Debian
// packages tesseract-ocr and tesseract-ocr-eng), which reads a page as well
// in half the time on one thread but misses most text in photos.
//
// Tesseract runs as a separate process per image, so a crash or a hang on a
// hostile image costs one bounded process and never the server.
package text

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"strings"
	"time"
	"unicode"

	"github.com/pixpool/pixpool/childenv"
)

// ErrNotInstalled is wrapped by the errors of Available and Read when the
// tesseract program or its English data cannot be found.
var ErrNotInstalled = errors.New("text: tesseract with English data is not installed")

// ErrTimeout is wrapped by the error Read returns when an image takes longer
// than the Reader's Timeout.
var ErrTimeout = errors.New("text: reading timed out")

// installHint tells an operator how to fix ErrNotInstalled.
const installHint = "install it with: apt-get install tesseract-ocr tesseract-ocr-eng"

// Line is one line of text found in an image.
type Line struct {
	// Text is the words of the line separated by single spaces.
	Text string
	// Confidence is the mean of the words' confidences, 0-100.
	Confidence float64
	// Box bounds the line in the coordinates of the image passed to Read.
	Box image.Rectangle
}

// Reader reads English text, with Tesseract alone unless Scene is set. The
// zero value is ready to use; a Reader holds no state between calls and is
// safe for concurrent use.
type Reader struct {
	// Command is the tesseract program to run. If empty, "tesseract" from PATH.
	Command string
	// Timeout bounds the work on one image, all Tesseract runs included.
	// If zero, 30 seconds.
	Timeout time.Duration
	// MinConfidence drops lines whose confidence (0-100) is below it.
	// If zero, every line is kept.
	MinConfidence float64
	// Pause, if set, pauses Tesseract: while it reports Busy, the process
	// is stopped (SIGSTOP) until Wait returns, then continued, as
	// service.Activity does while requests are served. Paused time counts
	// toward Timeout.
	Pause Pauser
	// Scene, if set, finds the lines of text and reads them, except on a
	// page of text, which goes to Tesseract if it is installed (see
	// readScene). If nil, Tesseract reads everything.
	Scene *Scene

	// noDeskew turns the tilt correction off; tests use it to measure
	// whether straightening helps.
	noDeskew bool
	// psms overrides the page segmentation modes tried, for measurements.
	psms []int
	// started, if set, is given each tesseract process once it runs;
	// benchmarks sample its peak memory.
	started func(*os.Process)
}

func (r *Reader) command() string {
	if r.Command == "" {
		return "tesseract"
	}
	return r.Command
}

func (r *Reader) timeout() time.Duration {
	if r.Timeout <= 0 {
		return 30 * time.Second
	}
	return r.Timeout
}

// Available reports whether the tesseract program and its English data are
// installed. The error wraps ErrNotInstalled and says how to install them.
func Available() error {
	return available(context.Background(), "tesseract")
}

func available(ctx context.Context, command string) error {
	path, err := exec.LookPath(command)
	if err != nil {
		return fmt.Errorf("%w (%s not found); %s", ErrNotInstalled, command, installHint)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--list-langs")
	cmd.Env = tesseractEnv()
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w (%s --list-langs: %v: %s); %s", ErrNotInstalled, path, err, firstLine(out), installHint)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) == "eng" {
			return nil
		}
	}
	return fmt.Errorf("%w (no English data \"eng\" for %s); %s", ErrNotInstalled, path, installHint)
}

// Page segmentation modes of Tesseract tried in turn: automatic layout
// first, then sparse text, which finds scattered words (signs, photos) that
// the layout analysis throws away.
const (
	psmAuto   = 3
	psmSparse = 11
)

// Read returns every English line of text found in img, in reading order:
// top to bottom and left to right along the text (Scene), or by
// Tesseract's block, paragraph and line numbers. An image without text
// gives no lines and no error. The error wraps ErrTimeout when the image
// took longer than Timeout, ErrNotInstalled when Tesseract is missing and
// Scene is nil, and ctx.Err() when ctx ended first.
func (r *Reader) Read(ctx context.Context, img image.Image) ([]Line, error) {
	if img == nil {
		return nil, errors.New("text: nil image")
	}
	b := img.Bounds()
	if b.Dx() < minSide || b.Dy() < minSide {
		// Too small to hold a glyph; Tesseract would only complain.
		return nil, nil
	}
	timeout := r.timeout()
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTimeout)
	defer cancel()
	var lines []Line
	var err error
	if r.Scene != nil {
		lines, err = r.readScene(ctx, img)
	} else {
		lines, err = r.readTesseract(ctx, img)
	}
	if err != nil {
		if errors.Is(context.Cause(ctx), ErrTimeout) {
			return nil, fmt.Errorf("%w after %v", ErrTimeout, timeout)
		}
		return nil, err
	}
	kept := lines[:0]
	for _, l := range lines {
		if l.Confidence >= r.MinConfidence {
			kept = append(kept, l)
		}
	}
	if len(kept) == 0 {
		return nil, nil
	}
	return kept, nil
}

// readTesseract reads img with Tesseract: automatic layout first, then,
// if that finds nothing, sparse text. Boxes are in img's coordinates.
func (r *Reader) readTesseract(ctx context.Context, img image.Image) ([]Line, error) {
	p := prepare(img, !r.noDeskew)
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, p.img); err != nil {
		return nil, fmt.Errorf("text: encode png: %w", err)
	}
	var lines []Line
	psms := r.psms
	if psms == nil {
		psms = []int{psmAuto, psmSparse}
	}
	for _, psm := range psms {
		out, err := r.run(ctx, buf.Bytes(), psm)
		if err != nil {
			return nil, err
		}
		lines, err = parseTSV(out)
		if err != nil {
			return nil, err
		}
		if len(lines) > 0 {
			break
		}
	}
	for i := range lines {
		lines[i].Box = p.toSource(lines[i].Box)
	}
	return lines, nil
}

// readScene reads img with r.Scene, waiting for r.Pause before each model
// run: a run cannot be paused once started, and each takes well under a
// second. A page of text (see documentWidth) goes to Tesseract once its
// lines are found, unless Tesseract is not installed, fails on it, or reads
// much less than the lines hold.
func (r *Reader) readScene(ctx context.Context, img image.Image) ([]Line, error) {
	yield := func(ctx context.Context) error {
		if r.Pause != nil && r.Pause.Wait(ctx) != nil {
			return fmt.Errorf("text: %w", context.Cause(ctx))
		}
		if ctx.Err() != nil {
			return fmt.Errorf("text: %w", context.Cause(ctx))
		}
		return nil
	}
	if r.Scene.release != nil {
		defer r.Scene.release()
	}
	src, scale := r.Scene.workingCopy(img)
	crops, err := r.Scene.detect(ctx, src, yield)
	if err != nil {
		return nil, err
	}
	if width := cropsWidth(crops); width >= documentWidth {
		lines, err := r.readTesseract(ctx, img)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, err
		case err != nil:
			// Not installed, or failed on this image (a crash): the
			// recognizer reads it.
		case 2*charCount(lines) >= width/charWidth:
			return lines, nil
		}
	}
	lines, err := r.Scene.readCrops(ctx, src, crops, yield)
	b := img.Bounds()
	for i := range lines {
		box := lines[i].Box
		box = image.Rect(int(math.Floor(float64(box.Min.X)*scale)), int(math.Floor(float64(box.Min.Y)*scale)),
			int(math.Ceil(float64(box.Max.X)*scale)), int(math.Ceil(float64(box.Max.Y)*scale)))
		lines[i].Box = box.Add(b.Min).Intersect(b)
	}
	return lines, err
}

// charCount is the number of letters and digits in lines.
func charCount(lines []Line) int {
	n := 0
	for _, l := range lines {
		for _, r := range l.Text {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				n++
			}
		}
	}
	return n
}

// Memory returns about the most that Read allocates in the Go heap for a
// w×h image on top of the image itself: a Scene's (see Scene.Memory, also
// for ONNX Runtime's memory outside the heap) and, as a page of text goes
// to Tesseract after the Scene found its lines, Tesseract's preparation
// (see the package's Memory).
func (r *Reader) Memory(w, h int) int64 {
	if r.Scene == nil {
		return Memory(w, h)
	}
	return r.Scene.Memory(w, h) + Memory(w, h)
}

// tesseractEnv is Tesseract's environment: a minimal one (childenv.Env),
// so that none of serve's secrets reach it, with where its language data
// and libraries are. Tesseract's OpenMP threads make one image barely
// faster and several concurrent images much slower; one thread per
// process is best.
func tesseractEnv() []string {
	return childenv.Env([]string{"TESSDATA_PREFIX", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"}, "OMP_THREAD_LIMIT=1")
}

// run runs tesseract once on a PNG and returns its TSV output.
func (r *Reader) run(ctx context.Context, pngData []byte, psm int) ([]byte, error) {
	cmd := exec.CommandContext(ctx, r.command(), "stdin", "stdout", "-l", "eng", "--psm", fmt.Sprint(psm), "tsv")
	cmd.Env = tesseractEnv()
	cmd.Stdin = bytes.NewReader(pngData)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	// Kill stops tesseract itself; WaitDelay stops Wait from waiting for
	// pipes held open by anything it may have started.
	cmd.WaitDelay = 2 * time.Second
	if r.Pause != nil {
		if err := r.Pause.Wait(ctx); err != nil {
			return nil, fmt.Errorf("text: %w", context.Cause(ctx))
		}
	}
	err := cmd.Start()
	if err == nil {
		if r.started != nil {
			r.started(cmd.Process)
		}
		if r.Pause != nil {
			stop := pauseWhileBusy(ctx, cmd.Process, r.Pause)
			err = cmd.Wait()
			stop()
		} else {
			err = cmd.Wait()
		}
	}
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("text: tesseract: %w", context.Cause(ctx))
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w (%v); %s", ErrNotInstalled, err, installHint)
	}
	msg := strings.TrimSpace(stderr.String())
	if strings.Contains(msg, "Failed loading language") {
		return nil, fmt.Errorf("%w (%s); %s", ErrNotInstalled, firstLine([]byte(msg)), installHint)
	}
	return nil, fmt.Errorf("text: tesseract --psm %d: %v: %s", psm, err, msg)
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Pauser tells background work when to pause (service.Activity).
type Pauser interface {
	// Busy reports whether the work should pause now.
	Busy() bool
	// Wait blocks until the work may go on, or ctx ends.
	Wait(ctx context.Context) error
}

// pauseWhileBusy stops p while pause is busy and continues it once pause's
// Wait returns, checking every few milliseconds until the returned func is
// called.
func pauseWhileBusy(ctx context.Context, p *os.Process, pause Pauser) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if !pause.Busy() || signalProcess(p, stopSignal) != nil {
				continue
			}
			pause.Wait(ctx) // on ctx's end too: CommandContext kills p, stopped or not
			signalProcess(p, continueSignal)
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
