package cache

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// MachineMemory returns the memory this process can have, in bytes: the
// machine's physical memory, or the limit of its control group (cgroup v2
// memory.max or v1 memory.limit_in_bytes, as a container sees them) when
// lower. 0 if unknown.
func MachineMemory() int64 {
	var si syscall.Sysinfo_t
	var total int64
	if syscall.Sysinfo(&si) == nil {
		total = int64(si.Totalram) * int64(si.Unit)
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// "max" (v2) or a huge number (v1) means no limit.
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}
