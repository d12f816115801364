package ismg

import "sync"

// keyLocks is a mutex per Msg_Id, held across that message's commit. A
// fixed set of stripes would make unrelated receipts wait for each
// other's commits: with a thousand receipts in flight, 64 stripes queued
// about sixteen commits behind each one, which was most of the report
// latency.
type keyLocks struct {
	mu sync.Mutex // leaf: guards m and the refs
	m  map[uint64]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (k *keyLocks) lock(id uint64) *keyLock {
	k.mu.Lock()
	l := k.m[id]
	if l == nil {
		l = &keyLock{}
		k.m[id] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return l
}

// tryLock is lock for callers that must not wait: nil when id's lock is
// held or wanted.
func (k *keyLocks) tryLock(id uint64) *keyLock {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m[id] != nil {
		return nil
	}
	l := &keyLock{refs: 1}
	l.mu.Lock()
	k.m[id] = l
	return l
}

func (k *keyLocks) unlock(id uint64, l *keyLock) {
	l.mu.Unlock()
	k.mu.Lock()
	if l.refs--; l.refs == 0 {
		delete(k.m, id)
	}
	k.mu.Unlock()
}
