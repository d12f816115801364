package gnspb

import "google.golang.org/protobuf/proto"

// SP account secrets leave the GNS only when asked for over a connection
// it trusts; everything else gets the account with its secret withheld.
// These helpers strip secrets from values that may be shared (a watch
// event is shared by every watcher), copying only what they change.

// WithoutSecret returns s, or a copy of it whose account's secret is
// cleared and marked withheld.
func (s *SP) WithoutSecret() *SP {
	if s.GetAccount().GetSecret() == "" {
		return s
	}
	c := proto.Clone(s).(*SP)
	c.Account.Secret = ""
	c.Account.SecretWithheld = true
	return c
}

// HasSecret reports whether any SP put in changes carries a secret.
func HasSecret(changes []*Change) bool {
	for _, c := range changes {
		if c.GetPutSp().GetAccount().GetSecret() != "" {
			return true
		}
	}
	return false
}

// WithoutSecrets returns changes, or a copy whose SP puts carry no secret.
func WithoutSecrets(changes []*Change) []*Change {
	if !HasSecret(changes) {
		return changes
	}
	out := make([]*Change, len(changes))
	for i, c := range changes {
		if sp := c.GetPutSp(); sp.GetAccount().GetSecret() != "" {
			c = &Change{Op: &Change_PutSp{PutSp: sp.WithoutSecret()}}
		}
		out[i] = c
	}
	return out
}

// WithoutSecrets returns ev, or a copy of it without SP secrets.
func (ev *WatchEvent) WithoutSecrets() *WatchEvent {
	if !HasSecret(ev.GetChanges()) {
		return ev
	}
	c := &WatchEvent{Revision: ev.Revision, Snapshot: ev.Snapshot, Reset_: ev.Reset_, SnapshotDone: ev.SnapshotDone}
	c.Changes = WithoutSecrets(ev.Changes)
	return c
}

// WithoutSecrets returns ch, or a copy of it without SP secrets.
func (ch *TableChunk) WithoutSecrets() *TableChunk {
	has := false
	for _, s := range ch.GetSps() {
		has = has || s.GetAccount().GetSecret() != ""
	}
	if !has {
		return ch
	}
	c := &TableChunk{Gateways: ch.Gateways, Segments: ch.Segments, Ported: ch.Ported, Revision: ch.Revision}
	for _, s := range ch.Sps {
		c.Sps = append(c.Sps, s.WithoutSecret())
	}
	return c
}
