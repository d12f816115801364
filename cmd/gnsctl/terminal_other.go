//go:build !linux

package main

import "os"

// isTerminal is false off Linux: table push then replaces without asking,
// as it does for scripts (-y is implied).
func isTerminal(*os.File) bool { return false }
