package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the child if this program dies, so no
// memcached is left running after a crash or a kill -9.
func dieWithParent(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
