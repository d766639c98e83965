//go:build !linux

package text

import "os"

// peakRSS is the peak resident size of a running process; unknown here.
func peakRSS(*os.Process) uint64 { return 0 }

func resetPeakRSS() {}

// selfPeakRSS is the peak resident size of this process; unknown here.
func selfPeakRSS() uint64 { return 0 }

// selfRSS is the resident size of this process; unknown here.
func selfRSS() uint64 { return 0 }
