//go:build !linux

package cache

// MachineMemory returns 0 (unknown) outside Linux: capacities are not
// checked against the machine's memory there.
func MachineMemory() int64 { return 0 }
