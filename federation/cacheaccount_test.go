package federation_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

// TestCacheCarriesAccountSecrets: over loopback the cache asks for SP
// secrets and gets them, persists the table with mode 0600, and a restart
// reads the account back from the file.
func TestCacheCarriesAccountSecrets(t *testing.T) {
	cl := startGNS(t, 1, nil)
	cl.importSample(t)
	rev := cl.write(t, &gnspb.Change{Op: &gnspb.Change_PutSp{PutSp: &gnspb.SP{
		SpId: "901234", Name: "Sina", PrimaryGateway: "001001", ServiceCodes: []*gnspb.ServiceCode{{Code: "10657001"}},
		Account: &gnspb.SPAccount{Secret: "cached-secret", AllowedIps: []string{"127.0.0.1"}, Window: 4},
	}}})
	dir := t.TempDir()
	rc := newCache(t, cacheConfig(t, dir, cl.addrs())).run(t)
	waitRevision(t, rc, rev)
	sp, _ := rc.Table().SP("901234")
	if sp.Account == nil || sp.Account.Secret != "cached-secret" || sp.Account.Window != 4 {
		t.Fatalf("cached account %+v", sp.Account)
	}
	waitfor.Cond(t, "table persisted", func() bool { return rc.metric(t, persisted) == float64(rev) })
	st, err := os.Stat(filepath.Join(dir, federation.CacheFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("cache file mode %v, want 0600", st.Mode().Perm())
	}
	if err := rc.stop(); err != nil {
		t.Fatal(err)
	}
	again := newCache(t, cacheConfig(t, dir, []string{"127.0.0.1:1"}))
	if sp, _ := again.Table().SP("901234"); sp.Account == nil || sp.Account.Secret != "cached-secret" {
		t.Fatalf("account after a restart: %+v", sp.Account)
	}
}
