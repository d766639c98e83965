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
		_, v, ok := bytes.Cut(b, []byte("\nVmHWM:"))
		if err != nil || !ok { // gone, or exited and its memory freed
			return peak
		}
		if v, _, ok = bytes.Cut(v, []byte("kB")); ok {
			if kb, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64); err == nil {
				peak = kb << 10
			}
		}
		time.Sleep(time.Millisecond)
	}
}
