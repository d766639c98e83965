//go:build !unix

package text

import (
	"errors"
	"os"
)

// Processes cannot be paused here; Tesseract then runs through.
var stopSignal, continueSignal os.Signal

func signalProcess(p *os.Process, sig os.Signal) error {
	return errors.New("pausing a process is not supported on this system")
}
