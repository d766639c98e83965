package text

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pixpool/pixpool/recognize/onnx"
)

// ErrSceneNotInstalled is wrapped by the errors of SceneInstalled and
// OpenScene when the models or ONNX Runtime are missing from
// DIR/recognition/.
var ErrSceneNotInstalled = errors.New("text: the scene text models are not installed (run scripts/setup-recognition.sh DIR)")

// Files of DIR/recognition/ that OpenScene reads, as
// scripts/setup-recognition.sh names them.
const (
	runtimeFile = "libonnxruntime.so.1"
	detFile     = "ocr-det.onnx"
	recFile     = "ocr-rec.onnx"
	keysFile    = "ocr-keys.txt"
)

// SceneInstalled reports whether DIR/recognition/ holds ONNX Runtime and the
// scene text models, without loading them: a missing file gives an error
// wrapping ErrSceneNotInstalled.
func SceneInstalled(dir string) error {
	base := filepath.Join(dir, "recognition")
	for _, f := range []string{runtimeFile, detFile, recFile, keysFile} {
		if _, err := os.Stat(filepath.Join(base, f)); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s missing", ErrSceneNotInstalled, filepath.Join(base, f))
		}
	}
	return nil
}

// OpenScene loads ONNX Runtime and the scene text models from
// DIR/recognition/, where scripts/setup-recognition.sh DIR puts them. Each
// model computes on the calling thread only. A missing file gives an error
// wrapping ErrSceneNotInstalled; a damaged one, an error naming it.
func OpenScene(dir string) (*Scene, error) {
	if err := SceneInstalled(dir); err != nil {
		return nil, err
	}
	base := filepath.Join(dir, "recognition")
	rt, err := onnx.Load(filepath.Join(base, runtimeFile))
	if err != nil {
		return nil, fmt.Errorf("text: %w", err)
	}
	keys, err := readKeys(filepath.Join(base, keysFile))
	if err != nil {
		return nil, err
	}
	det, err := openModel(rt, filepath.Join(base, detFile))
	if err != nil {
		return nil, err
	}
	rec, err := openModel(rt, filepath.Join(base, recFile))
	if err != nil {
		det.Close()
		return nil, err
	}
	return &Scene{det: session{det}, rec: session{rec}, keys: keys, release: rt.ReleaseMemory, close: func() error {
		det.Close()
		rec.Close()
		return nil
	}}, nil
}

// Close frees the models. The Scene must not be used afterwards.
func (s *Scene) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

func openModel(rt *onnx.Runtime, path string) (*onnx.Session, error) {
	s, err := rt.NewSessionFile(path, onnx.Options{Threads: 1})
	if err != nil {
		return nil, fmt.Errorf("text: %w", err)
	}
	if len(s.InputNames()) != 1 || len(s.OutputNames()) != 1 {
		s.Close()
		return nil, fmt.Errorf("text: %s has %d inputs and %d outputs, want one of each", path, len(s.InputNames()), len(s.OutputNames()))
	}
	return s, nil
}

// readKeys reads the recognizer's dictionary, one character a line, and
// returns its classes: 0 is CTC's blank, then the dictionary, then a space.
func readKeys(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("text: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n"), "\n")
	if len(lines) < 2 {
		return nil, fmt.Errorf("text: %s holds %d characters, want the recognizer's dictionary", path, len(lines))
	}
	keys := make([]string, 0, len(lines)+2)
	keys = append(keys, "")
	for _, k := range lines {
		keys = append(keys, strings.Map(halfWidth, k))
	}
	return append(keys, " "), nil
}

// halfWidth maps the full-width forms of ASCII, which the Chinese
// dictionary has and the recognizer often reads English punctuation as
// ("，", "！"), to ASCII.
func halfWidth(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		return r - 0xFEE0
	case r == 0x3000: // ideographic space
		return ' '
	}
	return r
}

// session runs an ONNX Runtime session as a model.
type session struct{ s *onnx.Session }

func (s session) run(in []float32, shape []int64) ([]float32, []int64, error) {
	out, err := s.s.Run([]onnx.Tensor{{Shape: shape, Data: in}})
	if err != nil {
		return nil, nil, err
	}
	return out[0].Data, out[0].Shape, nil
}
