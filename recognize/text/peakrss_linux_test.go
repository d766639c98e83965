package text

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// peakRSS samples the peak resident size (VmHWM) of a running process p
// every millisecond until it has exited, and returns the last sample in
// bytes. The peak is a high-water mark, so a sample taken any time after
// it was reached is exact. (The rusage of an exited child is no use: Go
// starts processes with vfork, and Linux counts the parent's peak in the
// child's.)
func peakRSS(p *os.Process) uint64 {
	path := "/proc/" + strconv.Itoa(p.Pid) + "/status"
	var peak uint64
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return peak // gone
		}
		n, ok := vmHWM(b)
		if !ok { // exited and its memory freed
			return peak
		}
		peak = n
		time.Sleep(time.Millisecond)
	}
}

// vmHWM reads the peak resident size, in bytes, from a /proc/PID/status.
func vmHWM(status []byte) (uint64, bool) { return statusField(status, "VmHWM") }

// statusField reads a field in kB of a /proc/PID/status, in bytes.
func statusField(status []byte, name string) (uint64, bool) {
	_, v, ok := bytes.Cut(status, []byte("\n"+name+":"))
	if !ok {
		return 0, false
	}
	if v, _, ok = bytes.Cut(v, []byte("kB")); ok {
		if kb, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64); err == nil {
			return kb << 10, true
		}
	}
	return 0, false
}

// resetPeakRSS lowers this process's peak resident size to its current
// one, so that selfPeakRSS measures what follows (Linux 4.0 and later).
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// selfRSS is this process's resident size in bytes.
func selfRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	n, _ := statusField(b, "VmRSS")
	return n
}

// selfPeakRSS is this process's peak resident size in bytes: Go's heap,
// and what ONNX Runtime allocates outside it.
func selfPeakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	n, _ := vmHWM(b)
	return n
}
