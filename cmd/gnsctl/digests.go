package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tandem-sms/tandem/gns/gnspb"
)

// digestCheck compares the members' table digests. Only members at the
// same table revision are comparable: a member behind is catching up. At
// a revision the leader shares, the leader's digest is the reference;
// elsewhere the digest most members hold (with a tie, none: all differ).
type digestCheck struct {
	diverged []string // one line per member whose table differs
	notes    []string // members not compared, and why
	agreed   []string // members that agree with a reference
	rev      uint64   // the leader's revision (or the most common one)
}

func checkDigests(cs *gnspb.ClusterStatusResponse) digestCheck {
	var dc digestCheck
	byRev := map[uint64][]*gnspb.Member{}
	for _, m := range cs.Members {
		if m.Status == nil {
			dc.notes = append(dc.notes, fmt.Sprintf("%s did not report its digest: %s", m.Id, m.StatusError))
			continue
		}
		byRev[m.Status.TableDigestRevision] = append(byRev[m.Status.TableDigestRevision], m)
	}
	revs := slices.Sorted(func(yield func(uint64) bool) {
		for r := range byRev {
			if !yield(r) {
				return
			}
		}
	})
	// The revision others are compared with: the leader's, else the one
	// most members are at.
	common, led := uint64(0), false
	for _, r := range revs {
		hasLeader := slices.ContainsFunc(byRev[r], func(m *gnspb.Member) bool { return m.Leader })
		if hasLeader || (!led && len(byRev[r]) > len(byRev[common])) {
			common, led = r, hasLeader
		}
	}
	dc.rev = common
	for _, r := range revs {
		group := byRev[r]
		if len(group) == 1 {
			if r != common {
				dc.notes = append(dc.notes, fmt.Sprintf("%s is at revision %d, not compared (the others are at %d)", group[0].Id, r, common))
			}
			continue
		}
		ref, refWho := reference(group)
		for _, m := range group {
			d := m.Status.TableDigest
			switch {
			case ref == "":
				dc.diverged = append(dc.diverged, fmt.Sprintf("%s at revision %d holds digest %s, and no majority agrees on one", m.Id, r, short(d)))
			case d != ref:
				dc.diverged = append(dc.diverged, fmt.Sprintf("%s differs from %s at revision %d: digest %s, not %s", m.Id, refWho, r, short(d), short(ref)))
			default:
				dc.agreed = append(dc.agreed, m.Id)
			}
		}
	}
	return dc
}

// reference is the digest members at one revision should hold, and whose
// it is: the leader's, else the majority's, else none.
func reference(group []*gnspb.Member) (digest, who string) {
	count := map[string][]string{}
	for _, m := range group {
		if m.Leader {
			return m.Status.TableDigest, "the leader " + m.Id
		}
		count[m.Status.TableDigest] = append(count[m.Status.TableDigest], m.Id)
	}
	for d, ids := range count {
		if 2*len(ids) > len(group) {
			return d, "the majority (" + strings.Join(ids, ", ") + ")"
		}
	}
	return "", ""
}

// short is the digest's first 12 hex digits, enough to tell tables apart
// by eye.
func short(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}
