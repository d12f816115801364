package billing

// ScanDir calls fn with every complete record of the CDR files in dirs
// that o selects, finalized and open (.part) alike, in file-name order per
// directory: what the reports read, for a caller that looks for records
// of its own (the ISMG's message trace). fn must not keep r.
func ScanDir(dirs []string, o ReadOptions, fn func(r *Record)) (DirInfo, error) {
	return readDirs(dirs, o, fn)
}
