package federation_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/federation"
	"github.com/tandem-sms/tandem/gns"
	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/internal/testcerts"
	"github.com/tandem-sms/tandem/internal/waitfor"
)

const (
	resyncs    = "federation_routecache_resyncs_total"
	reconnects = "federation_routecache_reconnects_total"
	persisted  = "federation_routecache_persisted_revision"
)

// The cache against a real 3-node GNS cluster: the snapshot, a delta, the
// failover when its node dies (resuming from its revision, no whole
// table), every node down (it keeps answering), and a restart on the same
// data dir while every node is still down (it answers from the file).
func TestRouteCacheFollowsAndFailsOver(t *testing.T) {
	cl := startGNS(t, 3, nil)
	importRev := cl.importSample(t)
	dir := t.TempDir()
	rc := newCache(t, cacheConfig(t, dir, cl.addrs())).run(t)

	// The snapshot.
	<-rc.Synced()
	if rc.Revision() < importRev {
		t.Fatalf("synced at revision %d, before the import's %d", rc.Revision(), importRev)
	}
	if gw := resolves(rc.Table(), "13800101234"); gw != "001001" {
		t.Fatalf("13800101234 → %q from the cache, want Beijing 001001", gw)
	}
	if r, err := rc.Table().ResolveMO("10657001", "077101"); err != nil || r.Gateway.Code != "020001" || r.Partition != "south" {
		t.Fatalf("Sina MO asked by Nanning: %+v, %v; want the south partition, Guangzhou", r, err)
	}
	if n := rc.metric(t, resyncs, "reason", federation.ResyncInitial); n != 1 {
		t.Fatalf("initial resyncs = %v, want 1", n)
	}

	// A delta.
	rev := cl.write(t, putSegment("1591234", "020001"))
	waitRoute(t, rc, "15912340000", "020001")
	if rc.Revision() != rev {
		t.Fatalf("cache revision %d after the write at %d", rc.Revision(), rev)
	}
	waitfor.Cond(t, "table persisted", func() bool { return rc.metric(t, persisted) == float64(rev) })

	// The node the cache follows dies: it moves to another and goes on.
	dead := rc.ConnectedAddr()
	if dead == "" {
		t.Fatal("no connected GNS node after a delta arrived")
	}
	cl.remove(t, dead)
	waitfor.Cond(t, "cache following another node", func() bool {
		a := rc.ConnectedAddr()
		return a != "" && a != dead
	})
	rev = cl.write(t, putSegment("1591235", "021001"))
	waitRoute(t, rc, "15912350000", "021001")
	if got := rc.metric(t, "federation_routecache_connected", "addr", dead); got != 0 {
		t.Fatalf("connected{addr=%s} = %v after leaving it", dead, got)
	}
	if n := rc.metric(t, reconnects); n < 1 {
		t.Fatalf("reconnects_total = %v after the failover", n)
	}
	if n := rc.metric(t, resyncs); n != 1 {
		t.Fatalf("resyncs_total = %v after the failover, want 1: the cache should resume from its revision", n)
	}

	// Every node down: the cache keeps answering.
	for _, a := range cl.addrs() {
		cl.remove(t, a)
	}
	waitfor.Cond(t, "cache disconnected", func() bool { return rc.ConnectedAddr() == "" })
	if gw := resolves(rc.Table(), "15912350000"); gw != "021001" || rc.Revision() != rev {
		t.Fatalf("with the GNS down: 15912350000 → %q at revision %d, want 021001 at %d", gw, rc.Revision(), rev)
	}
	if err := rc.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// A restart while the GNS is still down routes from the file, before
	// and while it tries to connect.
	rc2 := newCache(t, cacheConfig(t, dir, []string{dead}))
	if rc2.Revision() != rev {
		t.Fatalf("restarted cache at revision %d, want the persisted %d", rc2.Revision(), rev)
	}
	rc2.run(t)
	waitfor.Cond(t, "restarted cache retrying the dead GNS", func() bool { return rc2.metric(t, reconnects, "reason", federation.ReconnectUnavailable) >= 2 })
	for num, gw := range map[string]string{"13800101234": "001001", "15912340000": "020001", "15912350000": "021001"} {
		if got := resolves(rc2.Table(), num); got != gw {
			t.Errorf("restarted cache: %s → %q, want %s", num, got, gw)
		}
	}
	select {
	case <-rc2.Synced():
		t.Fatal("Synced closed with no GNS node reachable")
	default:
	}
}

// A cache that comes back after the GNS dropped the deltas it missed gets
// a whole table (resync too_old); one within the history only the deltas.
func TestRouteCacheResyncsWhenTooOld(t *testing.T) {
	cl := startGNS(t, 3, func(c *gns.Config) { c.WatchHistory = 3 })
	cl.importSample(t)
	dir := t.TempDir()
	rc := newCache(t, cacheConfig(t, dir, cl.addrs())).run(t)
	<-rc.Synced()
	if err := rc.stop(); err != nil {
		t.Fatal(err)
	}
	left := rc.Revision()

	// Within the history: deltas only.
	rev := cl.write(t, putSegment("1591000", "020001"))
	rc = newCache(t, cacheConfig(t, dir, cl.addrs()))
	if rc.Revision() != left {
		t.Fatalf("restart at revision %d, left at %d", rc.Revision(), left)
	}
	rc.run(t)
	waitRoute(t, rc, "15910000000", "020001")
	if n := rc.metric(t, resyncs); n != 0 || rc.Revision() != rev {
		t.Fatalf("resumed within the history: resyncs = %v, revision %d (want 0 and %d)", n, rc.Revision(), rev)
	}
	if err := rc.stop(); err != nil {
		t.Fatal(err)
	}

	// Beyond it: a whole table.
	for i := range 6 {
		rev = cl.write(t, putSegment("159100"+string(rune('1'+i)), "021001"))
	}
	rc = newCache(t, cacheConfig(t, dir, cl.addrs())).run(t)
	waitRoute(t, rc, "15910060000", "021001")
	if n := rc.metric(t, resyncs, "reason", federation.ResyncTooOld); n != 1 {
		t.Fatalf("too_old resyncs = %v, want 1", n)
	}
	if rc.Revision() != rev || resolves(rc.Table(), "15910000000") != "020001" || resolves(rc.Table(), "13800101234") != "001001" {
		t.Fatalf("after the resync: revision %d (want %d), routes %q %q", rc.Revision(), rev,
			resolves(rc.Table(), "15910000000"), resolves(rc.Table(), "13800101234"))
	}
}

// A node cut off from the quorum keeps its stream open but falls behind:
// the cache leaves it once it has had no leader for LeaderlessTimeout.
func TestRouteCacheLeavesLeaderlessNode(t *testing.T) {
	cl := startGNS(t, 3, nil)
	cl.importSample(t)
	cfg := cacheConfig(t, t.TempDir(), cl.addrs())
	cfg.LeaderlessTimeout = 2 * cfg.ProbeInterval
	rc := newCache(t, cfg).run(t)
	<-rc.Synced()
	kept := rc.ConnectedAddr()
	for _, a := range cl.addrs() {
		if a != kept {
			cl.remove(t, a)
		}
	}
	waitfor.Cond(t, "leaderless node left", func() bool { return rc.metric(t, reconnects, "reason", federation.ReconnectLeaderless) >= 1 })
	if gw := resolves(rc.Table(), "13800101234"); gw != "001001" {
		t.Fatalf("13800101234 → %q after leaving the node", gw)
	}
}

// A GNS with TLS and a token: without the token the cache is refused and
// keeps its (empty) table; with the CA and the token it follows, also
// presenting a client certificate.
func TestRouteCacheTLSAndToken(t *testing.T) {
	ca := testcerts.NewCA(t, "gns")
	srv := ca.Issue(t, "gns1")
	cl := startGNS(t, 1, func(c *gns.Config) {
		c.Token, c.TLSCert, c.TLSKey, c.TLSCA = "sesame", srv.CertFile, srv.KeyFile, ca.CAFile
		c.RaftTLSCert, c.RaftTLSKey, c.RaftTLSCA = srv.CertFile, srv.KeyFile, ca.CAFile
	})
	cl.importSample(t)

	cfg := cacheConfig(t, t.TempDir(), cl.addrs())
	cfg.TLSCA = ca.CAFile
	refused := newCache(t, cfg).run(t)
	waitfor.Cond(t, "refusal without a token", func() bool { return refused.metric(t, reconnects, "reason", federation.ReconnectAuth) >= 2 })
	if refused.Revision() != 0 || refused.ConnectedAddr() != "" {
		t.Fatalf("without a token: revision %d, connected %q", refused.Revision(), refused.ConnectedAddr())
	}

	plain := cacheConfig(t, t.TempDir(), cl.addrs())
	plain.Token = "sesame"
	noTLS := newCache(t, plain).run(t)
	waitfor.Cond(t, "plaintext refused", func() bool { return noTLS.metric(t, reconnects) >= 2 })
	if noTLS.Revision() != 0 {
		t.Fatalf("plaintext client against a TLS GNS got revision %d", noTLS.Revision())
	}

	client := ca.Issue(t, "ismg")
	cfg = cacheConfig(t, t.TempDir(), cl.addrs())
	cfg.TLSCA, cfg.Token, cfg.TLSCert, cfg.TLSKey = ca.CAFile, "sesame", client.CertFile, client.KeyFile
	rc := newCache(t, cfg).run(t)
	<-rc.Synced()
	if gw := resolves(rc.Table(), "13800101234"); gw != "001001" {
		t.Fatalf("over TLS with the token: 13800101234 → %q", gw)
	}
	cl.write(t, putSegment("1597777", "077101"))
	waitRoute(t, rc, "15977770000", "077101")
}

func TestRouteCacheTLSFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		set  func(*federation.RouteCacheConfig)
		want string
	}{
		{"missing CA", func(c *federation.RouteCacheConfig) { c.TLSCA = dir + "/none.pem" }, "TLSCA"},
		{"CA not PEM", func(c *federation.RouteCacheConfig) { c.TLSCA = sampleTable }, "TLSCA " + sampleTable},
		{"bad key pair", func(c *federation.RouteCacheConfig) { c.TLSCert, c.TLSKey = sampleTable, sampleTable }, "TLSCert/TLSKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cacheConfig(t, dir, []string{"127.0.0.1:1"})
			tc.set(&cfg)
			_, err := federation.NewRouteCache(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// A node that hangs, or is cut off, without closing the connection: the
// probes time out and the cache moves to the next node.
func TestRouteCacheLeavesHungNode(t *testing.T) {
	cl := startGNS(t, 3, nil)
	cl.importSample(t)
	proxies := map[string]*freezeProxy{}
	var addrs []string
	for _, a := range cl.addrs()[:2] {
		p := startFreezeProxy(t, a)
		proxies[p.addr()] = p
		addrs = append(addrs, p.addr())
	}
	cfg := cacheConfig(t, t.TempDir(), addrs)
	cfg.ProbeInterval, cfg.ProbeTimeout = 100*time.Millisecond, 300*time.Millisecond
	rc := newCache(t, cfg).run(t)
	<-rc.Synced()
	hung := rc.ConnectedAddr()
	proxies[hung].freeze()
	waitfor.Cond(t, "hung node left", func() bool {
		a := rc.ConnectedAddr()
		return a != "" && a != hung
	})
	if n := rc.metric(t, reconnects, "reason", federation.ReconnectProbe); n < 1 {
		t.Fatalf("probe reconnects = %v, want the hung node left for its probes", n)
	}
	cl.write(t, putSegment("1593333", "022001"))
	waitRoute(t, rc, "15933330000", "022001")
	if n := rc.metric(t, resyncs); n != 1 {
		t.Fatalf("resyncs = %v, want only the initial one", n)
	}
}

// A delta that does not apply to the cached table (the file was not what
// the GNS had at its revision) makes the cache ask for the whole table.
func TestRouteCacheResyncsWhenDiverged(t *testing.T) {
	cl := startGNS(t, 1, nil)
	cl.importSample(t)
	rev := cl.write(t, putSegment("1591234", "020001"))
	dir := t.TempDir()
	writeTableFile(t, dir, sampleAt(t, rev)) // lacks 1591234
	rc := newCache(t, cacheConfig(t, dir, cl.addrs())).run(t)
	<-rc.Synced()
	rev = cl.write(t, &gnspb.Change{Op: &gnspb.Change_DeleteSegment{DeleteSegment: "1591234"}})
	waitfor.Cond(t, "resync after the divergence", func() bool { return rc.metric(t, resyncs, "reason", federation.ResyncDiverged) == 1 })
	waitRevision(t, rc, rev)
	if n := rc.metric(t, reconnects, "reason", federation.ReconnectDiverged); n != 1 {
		t.Fatalf("diverged reconnects = %v, want 1", n)
	}
	cl.write(t, putSegment("1591236", "021001"))
	waitRoute(t, rc, "15912360000", "021001")
	if gw := resolves(rc.Table(), "15912340000"); gw != "" {
		t.Fatalf("15912340000 → %q after the resync, want no route (its segment was deleted)", gw)
	}
}
