package onnx

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// TestLoad_TruncatedLibraryIsAnError: a library cut short, as by an
// interrupted copy, is refused with an error naming it; loading it must not
// crash the process (glibc maps the missing part, and the first access to it
// is a SIGBUS). Load runs in a child process, as the first Load of a
// process, which is when the library is opened.
func TestLoad_TruncatedLibraryIsAnError(t *testing.T) {
	if path := os.Getenv("PIXPOOL_TEST_ONNX_LOAD"); path != "" {
		_, err := Load(path)
		os.Stdout.WriteString("Load: " + strings.ReplaceAll(errString(err), "\n", " ") + "\n")
		os.Exit(0)
	}
	lib := filepath.Join(recognitionDir(t), "libonnxruntime.so.1")
	b, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range []int{64, len(b) / 20, len(b) / 2} {
		cut := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
		if err := os.WriteFile(cut, b[:keep], 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestLoad_TruncatedLibraryIsAnError$")
		cmd.Env = append(os.Environ(), "PIXPOOL_TEST_ONNX_LOAD="+cut)
		out, err := cmd.CombinedOutput()
		got := string(out)
		if err != nil || !strings.Contains(got, "Load: onnx: ") || !strings.Contains(got, cut) {
			if len(got) > 300 {
				got = got[:300]
			}
			t.Errorf("Load of the library cut to %d of %d bytes: %v: %s; want an error naming it", keep, len(b), err, got)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestBind_MissingFunctionIsAnError: a library whose C API table lacks a
// function Load needs is refused with an error, not a panic (which would
// take serve down at start).
func TestBind_MissingFunctionIsAnError(t *testing.T) {
	table := make([]uintptr, iAddSessionConfigEntry+1)
	for i := range table {
		table[i] = 1 // never called: bind only records the addresses
	}
	table[iRun] = 0
	var rt Runtime
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("bind panicked: %v", p)
			}
		}()
		err = rt.bind(unsafe.Pointer(&table[0]))
	}()
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("bind(table without Run) = %v, want an error", err)
	}
}
