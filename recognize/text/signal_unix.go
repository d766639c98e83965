//go:build unix

package text

import (
	"os"
	"syscall"
)

var (
	stopSignal     os.Signal = syscall.SIGSTOP
	continueSignal os.Signal = syscall.SIGCONT
)

func signalProcess(p *os.Process, sig os.Signal) error { return p.Signal(sig) }
