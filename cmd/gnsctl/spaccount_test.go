package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The SP account verbs against a real cluster (gnsctl and the nodes on
// loopback, where the GNS sends secrets when asked): sp add with an
// account, sp set of one field keeps the secret, show and list never print
// it, table export prints it only with --show-secrets, and an export
// without secrets pushes back keeping them.
func TestSPAccountVerbs(t *testing.T) {
	nodes := startCluster(t)
	t.Setenv("GNS_ENDPOINTS", addrs(nodes))
	run := func(want string, args ...string) string {
		t.Helper()
		code, out, errs := ctlRun(args...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("gnsctl %q: exit %d\nstdout: %s\nstderr: %s\nwant %q in stdout", args, code, out, errs, want)
		}
		return out
	}
	run("pushed", "table", "push", sample)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("top-secret-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run("revision", "sp", "add", "--id", "905001", "--codes", "10690501", "--gateway", "001001", "--mirrors", "020001",
		"--secret-file", secretFile, "--allowed-ips", "10.0.0.0/8,127.0.0.1", "--window", "32")
	noSecret := func(out string) {
		t.Helper()
		if strings.Contains(out, "top-secret") {
			t.Fatalf("a secret printed:\n%s", out)
		}
	}
	out := run("secret=set", "sp", "show", "905001")
	noSecret(out)
	if !strings.Contains(out, "window=32") || !strings.Contains(out, "ips=10.0.0.0/8,127.0.0.1") {
		t.Fatalf("sp show:\n%s", out)
	}
	noSecret(run("905001", "sp", "list"))
	noSecret(run("905001", "sp", "list", "-o", "json"))
	var sp struct {
		Account struct {
			Secret         string `json:"secret"`
			SecretWithheld bool   `json:"secret_withheld"`
			Window         int    `json:"window"`
		} `json:"account"`
	}
	if err := json.Unmarshal([]byte(run("", "sp", "show", "905001", "-o", "json")), &sp); err != nil || !sp.Account.SecretWithheld || sp.Account.Secret != "" {
		t.Fatalf("sp show -o json: %v %+v", err, sp)
	}

	// One field, without the secret: the secret stays.
	run("revision", "sp", "set", "905001", "--window", "8")
	if err := json.Unmarshal([]byte(run("", "sp", "show", "905001", "--show-secrets", "-o", "json")), &sp); err != nil ||
		sp.Account.Secret != "top-secret-1" || sp.Account.Window != 8 {
		t.Fatalf("after sp set --window: %v %+v", err, sp)
	}
	run("revision", "sp", "set", "905001", "--secret", "top-secret-2")

	// Export: without --show-secrets no secret, and pushing that file keeps it.
	exported := run("905001", "table", "export", "-o", "yaml")
	noSecret(exported)
	withSecrets := run("top-secret-2", "table", "export", "-o", "yaml", "--show-secrets")
	if !strings.Contains(withSecrets, "secret: top-secret-2") {
		t.Fatalf("export --show-secrets:\n%s", withSecrets)
	}
	file := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(file, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run("", "table", "push", "--dry-run", file); strings.Contains(out, "905001") {
		t.Fatalf("dry run of the exported table shows the SP as changed:\n%s", out)
	}
	run("pushed", "table", "push", file)
	run("top-secret-2", "sp", "show", "905001", "--show-secrets", "-o", "yaml")
	jsonOut := run("905001", "table", "export", "-o", "json")
	noSecret(jsonOut)
	if err := os.WriteFile(file, []byte(jsonOut), 0o600); err != nil {
		t.Fatal(err)
	}
	run("pushed", "table", "push", file)
	run("top-secret-2", "sp", "show", "905001", "--show-secrets", "-o", "yaml")

	// Removing the account; usage errors.
	run("revision", "sp", "set", "905001", "--remove-account")
	if out := run("905001", "sp", "show", "905001"); strings.Contains(out, "secret=") {
		t.Fatalf("sp show after --remove-account:\n%s", out)
	}
	if code, _, errs := ctlRun("sp", "set", "905001", "--window", "4"); code != exitUsage || !strings.Contains(errs, "no account") {
		t.Fatalf("sp set of an SP without an account: exit %d %s", code, errs)
	}
	if code, _, _ := ctlRun("sp", "set", "905001"); code != exitUsage {
		t.Fatalf("sp set without fields: exit %d", code)
	}
}
