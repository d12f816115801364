package buildinfo

import "flag"

// Flag adds -version (also --version) to a binary's flag set; when it is
// true after parsing, the binary prints Version(name) and exits 0.
func Flag(fs *flag.FlagSet) *bool {
	return fs.Bool("version", false, "print the version and build stamp, and exit")
}
