// Package clicmd is what the operator CLIs (gnsctl, ismgctl) share on top
// of cobra: usage errors apart from a command's own (exit 2 against 1),
// command groups that print their subcommands, argument counts, and
// Go-style single-dash long flags.
package clicmd

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// UsageError is a mistake in the command line (exit 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef makes a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// CmdError marks an error returned by a command's own work, so that
// everything else cobra returns (unknown commands, bad flags, argument
// counts) is a usage error.
type CmdError struct{ Err error }

func (e *CmdError) Error() string { return e.Err.Error() }
func (e *CmdError) Unwrap() error { return e.Err }

// IsUsage says whether err, as Execute returned it, is the command line's
// fault: a UsageError, or anything cobra itself refused.
func IsUsage(err error) bool {
	var ue *UsageError
	var ce *CmdError
	return errors.As(err, &ue) || !errors.As(err, &ce)
}

// RunE adapts a command body: its errors are the command's own, unless
// it says usage.
func RunE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := fn(cmd, args); err != nil {
			var ue *UsageError
			if errors.As(err, &ue) {
				return err
			}
			return &CmdError{Err: err}
		}
		return nil
	}
}

// Group is a command that only holds subcommands: alone it prints them;
// with an unknown subcommand it is a usage error.
func Group(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	g.AddCommand(subs...)
	return g
}

// NoArgs is cobra.NoArgs as a usage error; under a group it names the
// unknown subcommand.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return Usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

// NArgs checks a command's positional argument count.
func NArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return Usagef("usage: %s", cmd.UseLine())
		}
		return nil
	}
}
