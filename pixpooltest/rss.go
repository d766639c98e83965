package pixpooltest

import (
	"bytes"
	"os"
	"strconv"
)

// RSS returns this process's resident size and its peak (VmRSS and VmHWM
// of /proc/self/status), in bytes; zeros where there is no /proc. Unlike
// the Go heap they count memory that native libraries (ONNX Runtime)
// allocate.
func RSS() (current, peak uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	return statusKB(b, "VmRSS:"), statusKB(b, "VmHWM:")
}

// ResetPeakRSS starts RSS's peak again from the current resident size, so a
// benchmark can measure its own peak; it reports whether the kernel allowed
// it (Linux 4.0 and later: /proc/self/clear_refs).
func ResetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

func statusKB(status []byte, key string) uint64 {
	_, v, ok := bytes.Cut(status, []byte("\n"+key))
	if !ok {
		return 0
	}
	v, _, _ = bytes.Cut(v, []byte("kB"))
	kb, _ := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
	return kb << 10
}
