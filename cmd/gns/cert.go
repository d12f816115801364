package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-sms/tandem/raftstore"
)

const certUsage = `usage:
  gns cert ca -out DIR [-name NAME] [-days N]
      make a cluster CA for the Raft port: DIR/ca.pem (give it to every node
      as -raft-tls-ca) and DIR/ca.key (keep it off the nodes)
  gns cert node -ca DIR -id ID -host ADDR[,ADDR...] -out DIR [-days N]
      sign a node certificate with the CA in DIR: OUT/ID.pem and OUT/ID.key
      (-raft-tls-cert, -raft-tls-key); -host lists the IPs or DNS names the
      other nodes dial (its -raft or -raft-advertise host)
`

// runCert makes Raft TLS material: a cluster CA, and node certificates it
// signs. Existing files are never overwritten.
func runCert(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, certUsage)
		return fmt.Errorf("%w: gns cert needs ca or node", errUsage)
	}
	fs := flag.NewFlagSet("gns cert "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output directory (created if missing)")
	days := fs.Int("days", 0, "validity in days (default: CA 3650, node 825)")
	name := fs.String("name", "tandem GNS cluster CA", "CA name (ca)")
	caDir := fs.String("ca", "", "directory holding ca.pem and ca.key (node)")
	id := fs.String("id", "", "node ID, the certificate's name (node)")
	hosts := fs.String("host", "", "IP addresses or DNS names peers dial, comma-separated (node)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, certUsage)
			return nil
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, certUsage)
		return fmt.Errorf("%w: gns cert %s: -out is required and takes no arguments", errUsage, args[0])
	}
	validity := func(def int) time.Duration {
		if *days > 0 {
			def = *days
		}
		return time.Duration(def) * 24 * time.Hour
	}
	switch args[0] {
	case "ca":
		ca, err := raftstore.NewCA(*name, validity(3650))
		if err != nil {
			return err
		}
		return writeFiles(stdout, *out, map[string][]byte{"ca.pem": ca.CertPEM, "ca.key": ca.KeyPEM})
	case "node":
		if *caDir == "" || *id == "" || *hosts == "" {
			fmt.Fprint(stderr, certUsage)
			return fmt.Errorf("%w: gns cert node needs -ca, -id and -host", errUsage)
		}
		ca, err := raftstore.LoadCA(filepath.Join(*caDir, "ca.pem"), filepath.Join(*caDir, "ca.key"))
		if err != nil {
			return err
		}
		cert, key, err := ca.IssueNode(*id, splitList(*hosts), validity(825))
		if err != nil {
			return err
		}
		return writeFiles(stdout, *out, map[string][]byte{*id + ".pem": cert, *id + ".key": key})
	}
	fmt.Fprint(stderr, certUsage)
	return fmt.Errorf("%w: gns cert %q: want ca or node", errUsage, args[0])
}

// writeFiles writes each file into dir, refusing to replace one; keys get
// mode 0600.
func writeFiles(stdout io.Writer, dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name := range files {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("%s exists: not overwriting it", filepath.Join(dir, name))
		}
	}
	for name, b := range files {
		mode := os.FileMode(0o644)
		if filepath.Ext(name) == ".key" {
			mode = 0o600
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		fmt.Fprintln(stdout, "wrote", path)
	}
	return nil
}
