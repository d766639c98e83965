package manager

import (
	"os"
	"syscall"
)

// sysProcAttr makes the kernel end a node when the process that started it
// dies, so that no orphaned nodes outlive a crashed server.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

func terminate(p *os.Process) { p.Signal(syscall.SIGTERM) }
