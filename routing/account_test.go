package routing

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const accountsPath = "../testdata/routes/accounts.yaml"

func accountsTable(t *testing.T) *Table {
	t.Helper()
	tb, err := LoadFile(filepath.FromSlash(accountsPath))
	if err != nil {
		t.Fatalf("load %s: %v", accountsPath, err)
	}
	return tb
}

func TestAccountFile(t *testing.T) {
	tb := accountsTable(t)
	sina, _ := tb.SP("901234")
	want := &SPAccount{Secret: "sina-secret", AllowedIPs: []string{"127.0.0.1", "10.0.0.0/8"}, MaxConnections: 4, Window: 16, SubmitRate: 1000, Burst: 100}
	if !reflect.DeepEqual(sina.Account, want) {
		t.Fatalf("account %+v, want %+v", sina.Account, want)
	}
	if lot, _ := tb.SP("902001"); lot.Account != nil {
		t.Fatalf("lottery has an account: %+v", lot.Account)
	}
	if got := sina.Gateways(); !reflect.DeepEqual(got, []string{"001001", "020001"}) {
		t.Fatalf("gateways %v", got)
	}

	// Export leaves the secret out unless asked; both load back.
	var plain, full bytes.Buffer
	must(t, tb.Export(&plain))
	must(t, tb.ExportYAML(&full, ExportOptions{WithSecrets: true}))
	if strings.Contains(plain.String(), "sina-secret") || !strings.Contains(plain.String(), "secrets are not shown") {
		t.Fatalf("export without secrets:\n%s", plain.String())
	}
	back, err := Load("full.yaml", &full)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Contents(), tb.Contents()) {
		t.Fatalf("round trip with secrets differs:\n%s", full.String())
	}
	noSecret, err := Load("plain.yaml", &plain)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := noSecret.SP("901234")
	if s.Account == nil || s.Account.Secret != "" || s.Account.Window != 16 {
		t.Fatalf("exported account %+v", s.Account)
	}
	// Pushing that file keeps the secret the table has.
	ch := []Change{{Op: OpReplace, Replace: noSecret.Contents()}}
	must(t, KeepSecrets(tb, ch))
	if got, _ := ch[0].Replace.SPs[0].Account, 0; got.Secret != "sina-secret" {
		t.Fatalf("kept secret %q", got.Secret)
	}
	if sps := noSecret.SPs(); sps[0].Account.Secret != "" {
		t.Fatal("KeepSecrets changed the table the contents came from")
	}
}

func TestAccountValidation(t *testing.T) {
	yml := goodHead + `sps:
  - id: "901234"
    service_codes: ["10657001"]
    gateway: "001001"
    account:
      secret: s
      allowed_ips: [10.0.0.0/33, nonsense]
      window: -1
      submit_rate: fast
      colour: red
`
	_, err := Load("acct.yaml", strings.NewReader(yml))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{
		"acct.yaml:14: sps[0].account.colour: unknown key",
		"acct.yaml:13: sps[0].account.submit_rate:",
		"acct.yaml:11: sps[0].account.allowed_ips[0]:",
		"sps[0].account.allowed_ips[1]:",
		"acct.yaml:12: sps[0].account.window:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestKeepSecrets(t *testing.T) {
	tb := accountsTable(t)
	put := func(a *SPAccount) []Change {
		return []Change{{Op: OpPutSP, SP: SP{ID: "901234", Gateway: "001001", ServiceCodes: []ServiceCode{{Code: "10657001"}}, Account: a}}}
	}
	ch := put(&SPAccount{Window: 8})
	must(t, KeepSecrets(tb, ch))
	if ch[0].SP.Account.Secret != "sina-secret" || ch[0].SP.Account.Window != 8 {
		t.Fatalf("kept %+v", ch[0].SP.Account)
	}
	ch = put(&SPAccount{Secret: "new"})
	must(t, KeepSecrets(tb, ch))
	if ch[0].SP.Account.Secret != "new" {
		t.Fatalf("a given secret was replaced: %+v", ch[0].SP.Account)
	}
	// A new account must bring its secret.
	ch = []Change{{Op: OpPutSP, SP: SP{ID: "902001", Gateway: "020001", Account: &SPAccount{}}}}
	err := KeepSecrets(tb, ch)
	var ce *ChangeError
	if !errors.Is(err, ErrSecretRequired) || !errors.As(err, &ce) || ce.Field != "sp.account.secret" {
		t.Fatalf("err = %v", err)
	}
}

func TestAccountEncodings(t *testing.T) {
	tb := accountsTable(t)
	// A batch with an account takes version 2 and round-trips; one
	// without stays version 1, readable by the previous release.
	acct := []Change{{Op: OpPutSP, SP: SP{ID: "901234", Gateway: "001001", ServiceCodes: []ServiceCode{{Code: "10657001"}},
		Account: &SPAccount{Secret: "x", AllowedIPs: []string{"10.0.0.1"}, MaxConnections: 2, Window: 3, SubmitRate: 12.5, Burst: 4}}}}
	enc := EncodeChanges(nil, acct)
	if enc[0] != ChangesVersionAccounts {
		t.Fatalf("version %d", enc[0])
	}
	dec, err := DecodeChanges(enc)
	if err != nil || !reflect.DeepEqual(dec, acct) {
		t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, dec, acct)
	}
	if enc := EncodeChanges(nil, sampleChanges()); enc[0] != ChangesVersion {
		t.Fatalf("batch without accounts: version %d", enc[0])
	}
	rep := []Change{{Op: OpReplace, Replace: tb.Contents()}}
	dec, err = DecodeChanges(EncodeChanges(nil, rep))
	if err != nil || !reflect.DeepEqual(dec[0].Replace.SPs[0].Account, rep[0].Replace.SPs[0].Account) {
		t.Fatalf("replace round trip: %v", err)
	}
	// Every truncation of the batch is an error, never a panic.
	for i := 1; i < len(enc); i++ {
		if _, err := DecodeChanges(enc[:i]); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}

	// Snapshots: version 2 with accounts, and back.
	var buf bytes.Buffer
	must(t, tb.WriteSnapshot(&buf))
	if buf.Bytes()[4] != 2 {
		t.Fatalf("snapshot version %d", buf.Bytes()[4])
	}
	back, err := ReadSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil || !reflect.DeepEqual(back.Contents(), tb.Contents()) {
		t.Fatalf("snapshot round trip: %v", err)
	}
	var v1 bytes.Buffer
	must(t, sample(t).WriteSnapshot(&v1))
	if v1.Bytes()[4] != 1 {
		t.Fatalf("snapshot without accounts: version %d", v1.Bytes()[4])
	}
}
