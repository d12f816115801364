package ismg

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tandem-sms/tandem/msgtrace"
)

// GET /trace answers three questions:
//
//	?msg_id=<id>&local=1   this gateway's Hop (what a follower asks)
//	?msg_id=<id>           the whole Trace, gathered by following the hops
//	                       from the Msg_Id's gateway (msgtrace.Follow),
//	                       asking the peers at federation.peers[].http_addr
//	?dest=<MSISDN>[&from=&to=]  this gateway's CDRs of messages to dest in
//	                       [from, to) (RFC 3339; default the last 24 h)
//
// A peer is asked with this node's listen.http_token: the federation's
// HTTP ports share one token, if any.

// traceFetchTimeout bounds one gateway's answer.
const traceFetchTimeout = 10 * time.Second

func (n *Node) serveTrace(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if s := q.Get("msg_id"); s != "" {
		id, err := msgtrace.ParseMsgID(s)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		if q.Get("local") != "" {
			h, err := n.traceHop(id)
			if err != nil {
				traceErr(w, err)
				return
			}
			writeJSON(w, h)
			return
		}
		tr, err := n.Trace(r.Context(), id)
		if err != nil {
			traceErr(w, err)
			return
		}
		writeJSON(w, tr)
		return
	}
	dest := q.Get("dest")
	if dest == "" {
		writeJSONError(w, http.StatusBadRequest, "want ?msg_id=<Msg_Id> or ?dest=<MSISDN>[&from=<RFC 3339>&to=<RFC 3339>]")
		return
	}
	to, from := time.Now(), time.Now().Add(-24*time.Hour)
	for _, b := range []struct {
		key string
		t   *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(b.key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeJSONError(w, http.StatusBadRequest, b.key+": want RFC 3339 (2026-01-02T15:04:05+08:00)")
				return
			}
			*b.t = t
		}
	}
	res, err := n.traceSearch(dest, from, to)
	if err != nil {
		traceErr(w, err)
		return
	}
	writeJSON(w, res)
}

func traceErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, errTraceBusy) {
		code = http.StatusServiceUnavailable
	}
	writeJSONError(w, code, err.Error())
}

// Trace follows message id across the federation: this gateway answers
// for itself, the peers over their HTTP ports.
func (n *Node) Trace(ctx context.Context, id uint64) (msgtrace.Trace, error) {
	c := &msgtrace.Client{Addr: n.peerHTTPAddr, Token: n.cfg.Listen.HTTPToken}
	return msgtrace.Follow(ctx, id, func(ctx context.Context, gw string, id uint64) (msgtrace.Hop, error) {
		if gw == n.gw {
			return n.traceHop(id)
		}
		ctx, cancel := context.WithTimeout(ctx, traceFetchTimeout)
		defer cancel()
		return c.Fetch(ctx, gw, id)
	})
}

// peerHTTPAddr is gateway gw's HTTP port from federation.peers.
func (n *Node) peerHTTPAddr(gw string) (string, bool) {
	for _, p := range n.cfg.Federation.Peers {
		if p.Code == gw && p.HTTPAddr != "" {
			return p.HTTPAddr, true
		}
	}
	return "", false
}
