//go:build !linux

package text

import "os"

// peakRSS is the peak resident size of a running process; unknown here.
func peakRSS(*os.Process) uint64 { return 0 }
