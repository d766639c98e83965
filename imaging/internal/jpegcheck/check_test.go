package jpegcheck

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// samples are image/jpeg's own test files (Go's src/image/testdata): every
// subsampling, baseline and progressive, gray, CMYK, RGB, restart
// intervals, separate DC scans and a truncated progressive file.
func samples(t testing.TB) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob("testdata/*.jpeg")
	if err != nil || len(names) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	m := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(n)] = b
	}
	return m
}

// same fails unless Check and jpeg.Decode agree on data: both accept it,
// or both refuse it with the same message.
func same(t testing.TB, what string, data []byte) {
	t.Helper()
	_, want := jpeg.Decode(bytes.NewReader(data))
	got := Check(bytes.NewReader(data))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: Check=%v, jpeg.Decode=%v", what, got, want)
	}
}

// Check accepts and refuses exactly what jpeg.Decode does: the samples as
// they are, cut short anywhere, and with any byte damaged.
func TestCheck_SameAsDecode(t *testing.T) {
	for name, data := range samples(t) {
		t.Run(name, func(t *testing.T) {
			same(t, "whole", data)
			for n := 0; n < len(data); n += 1 + n/8 {
				same(t, fmt.Sprintf("first %d bytes", n), data[:n])
			}
			for i := 0; i < len(data); i += 1 + i/12 {
				for _, x := range []byte{0xff, 0x01} {
					d := bytes.Clone(data)
					d[i] ^= x
					same(t, fmt.Sprintf("byte %d ^ %#x", i, x), d)
				}
			}
		})
	}
}

func TestCheck_Errors(t *testing.T) {
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"Empty", nil},
		{"NotJPEG", []byte("GIF89a")},
		{"OnlySOI", []byte{0xff, 0xd8}},
		{"NoScan", []byte{0xff, 0xd8, 0xff, 0xd9}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := Check(bytes.NewReader(tt.data)); err == nil {
				t.Fatal("Check accepted it")
			}
			same(t, tt.name, tt.data)
		})
	}
}

func FuzzCheck(f *testing.F) {
	for _, data := range samples(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		// Small dimensions only: jpeg.Decode would allocate the image.
		if cfg, err := jpeg.DecodeConfig(bytes.NewReader(data)); err == nil && cfg.Width*cfg.Height > 1<<20 {
			return
		}
		same(t, "input", data)
	})
}

func BenchmarkCheck(b *testing.B) {
	data := samples(b)["video-001.q50.420.jpeg"]
	b.Run("Check", func(b *testing.B) {
		for b.Loop() {
			Check(bytes.NewReader(data))
		}
	})
	b.Run("jpeg.Decode", func(b *testing.B) {
		for b.Loop() {
			jpeg.Decode(bytes.NewReader(data))
		}
	})
}
