package ismg

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tandem-sms/tandem/cmpp"
)

// TestMsgIDsUniqueAcrossEarlyKills starts ismg on a fresh data directory
// under SUBMIT load and kills it with SIGKILL at a random point of its
// first second, restarts it at once on the same directory and kills it
// again, several times over: no Msg_Id acknowledged in one run may be
// acknowledged again in another (the probe found 229 of 1,500 reissued
// after a kill 0.27 s after the first start, when the high-water second
// was first saved only after 500 ms).
func TestMsgIDsUniqueAcrossEarlyKills(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ismg")
	build := exec.Command("go", "build", "-o", bin, "github.com/tandem-sms/tandem/cmd/ismg")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	smsc := startSMSC(t, nil)

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	const trials, runs, window = 6, 3, 64
	total := 0
	for trial := range trials {
		tdir := filepath.Join(dir, fmt.Sprint(trial))
		if err := os.MkdirAll(tdir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfgPath := filepath.Join(tdir, "ismg.yaml")
		if err := os.WriteFile(cfgPath, []byte(nodeYAML(t, tdir, smsc.Addr())), 0o644); err != nil {
			t.Fatal(err)
		}
		seen := map[uint64]int{} // Msg_Id → run that got it acked
		for run := range runs {
			total += killedRun(t, bin, cfgPath, filepath.Join(tdir, "ismg.log"), rng, window, run, seen)
		}
	}
	if total == 0 {
		t.Fatal("no SUBMIT was acked in any run: the kills came too early to test anything")
	}
}

// killedRun starts ismg, loads it with SUBMITs until a SIGKILL at a random
// point of its first second, and checks that no Msg_Id it acknowledged is
// in seen (the earlier runs on the same directory); it adds them and
// returns how many there were.
func killedRun(t *testing.T, bin, cfgPath, logPath string, rng *rand.Rand, window, run int, seen map[uint64]int) int {
	t.Helper()
	ch := startChild(t, bin, cfgPath, logPath)
	s := mustSPWith(t, ch.cmppAddr, func(*cmpp.Deliver) {})
	kill := time.Duration(rng.Int64N(int64(time.Second)))
	timer := time.AfterFunc(kill, func() { _ = ch.cmd.Process.Kill() })

	var mu sync.Mutex
	var acked []uint64
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	for s.Err() == nil {
		sem <- struct{}{}
		wg.Add(1)
		err := s.SendAsync(context.Background(), submitPDU(bjNumber, 0, []byte("id probe")), func(resp cmpp.PDU, err error) {
			defer wg.Done()
			defer func() { <-sem }()
			if r, ok := resp.(*cmpp.SubmitResp); ok && err == nil && r.Result == 0 {
				mu.Lock()
				acked = append(acked, r.MsgID)
				mu.Unlock()
			}
		})
		if err != nil {
			wg.Done()
			<-sem
			break
		}
	}
	<-ch.exited
	timer.Stop()
	wg.Wait()
	s.Close()
	for _, id := range acked {
		if prev, dup := seen[id]; dup {
			t.Fatalf("run %d (killed after %v) got Msg_Id %v acked, already acked in run %d",
				run, kill, cmpp.UnpackMsgID(id), prev)
		}
		seen[id] = run
	}
	t.Logf("run %d: killed after %v, %d acked", run, kill, len(acked))
	return len(acked)
}
