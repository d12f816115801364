// Package buildinfo says which build of a Tandem binary is running: the
// module version and the VCS stamp the Go toolchain records
// (runtime/debug.ReadBuildInfo), printed by every binary's --version and
// exported as the tandem_build_info metric, so an operator can tell from a
// dashboard which nodes still run an old build.
package buildinfo
