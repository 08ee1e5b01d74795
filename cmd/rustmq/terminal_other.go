//go:build !linux

package main

import "os"

// isTerminal reports whether f is a character device, the closest this
// platform gets without terminal ioctls; a non-terminal character device
// (/dev/null) gets a progress line it discards.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
