//go:build !linux

package main

import "os/exec"

// dieWithParent is best effort elsewhere: children are stopped on exit.
func dieWithParent(c *exec.Cmd) {}
