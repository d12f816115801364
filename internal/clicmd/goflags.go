package clicmd

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// GoStyleFlags rewrites Go-style single-dash long flags ("-addr x",
// "-token=t", "-stale") to pflag's double dash. gnsctl parsed its flags
// with package flag before cobra, and scripts, compose health checks and
// the README say -addr (and every other Tandem binary takes -flag); pflag would read "-addr" as -a -d -d -r. Only
// names some command defines are rewritten, so "-o json", "-y" and values
// that start with a dash are left alone; "--" ends the rewriting.
func GoStyleFlags(root *cobra.Command, args []string) []string {
	long := map[string]bool{"help": true, "version": true}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		add := func(f *pflag.Flag) {
			if len(f.Name) > 1 {
				long[f.Name] = true
			}
		}
		cmd.LocalFlags().VisitAll(add)
		cmd.PersistentFlags().VisitAll(add)
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, len(args))
	for i, a := range args {
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		name, _, _ := strings.Cut(a, "=")
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && long[name[1:]] {
			a = "-" + a
		}
		out[i] = a
	}
	return out
}
