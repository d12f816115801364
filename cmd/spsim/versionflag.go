package main

import "strings"

// cmppVersionArgs keeps the old "-version 2.0" (the CMPP version, before
// every binary's -version printed the build) working: -version followed by
// a value, or -version=V, is rewritten to -cmpp-version; -version alone is
// left to print the build.
func cmppVersionArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "version" {
			out = append(out, a)
			continue
		}
		switch {
		case hasVal:
			out = append(out, "-cmpp-version="+val)
		case i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
			out = append(out, "-cmpp-version", args[i+1])
			i++
		default:
			out = append(out, a)
		}
	}
	return out
}
