package ismg

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tandem-sms/tandem/routing"
)

// The web console and its JSON API on the HTTP port (listen.http), next to
// /metrics and /healthz:
//
//	/            the console: plain HTML, CSS and JS embedded in the binary
//	/status      the node's state as JSON (status.go)
//	/trace       a message's path, or a search by destination (traceserve.go)
//	/route       a route look-up on the node's table
//
// The API is read-only. With listen.http_token set it requires
// "Authorization: Bearer <token>" (the console asks for the token once and
// keeps it in the browser's session storage); /metrics, /healthz and the
// page itself stay open. Without a token, a listen.http that is not a
// loopback address gets a warning at start: anyone reaching the port reads
// the node's state and its messages' paths.

//go:embed console
var consoleFiles embed.FS

// consoleState is what the console's handlers keep in the node.
type consoleState struct {
	started time.Time
	notes   traceNotes // trace.go
	traceMu sync.Mutex // one trace or search reads the CDR files at a time
	errs    errorRing  // consolelog.go
	rates   rateSampler
	cluster clusterCache
}

// wrapLogger returns l with its warn and error records also kept for the
// console (New calls it first).
func (c *consoleState) wrapLogger(l *slog.Logger) *slog.Logger {
	c.started = time.Now()
	return slog.New(&ringHandler{inner: l.Handler(), ring: &c.errs})
}

// consoleRoutes adds the console and its API to mux.
func (n *Node) consoleRoutes(mux *http.ServeMux) {
	sub, _ := fs.Sub(consoleFiles, "console")
	// Paths without a method: "GET /" would conflict with /metrics.
	mux.Handle("/", http.FileServerFS(sub))
	mux.Handle("/status", n.apiAuth(http.HandlerFunc(n.serveStatus)))
	mux.Handle("/trace", n.apiAuth(http.HandlerFunc(n.serveTrace)))
	mux.Handle("/route", n.apiAuth(http.HandlerFunc(n.serveRoute)))
	if n.cfg.Listen.HTTPToken == "" && !loopbackAddr(n.cfg.Listen.HTTP) {
		n.log.Warn("listen.http is not a loopback address and listen.http_token is empty: /status, /trace and /route are open to whoever reaches it",
			"addr", n.cfg.Listen.HTTP)
	}
}

func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiAuth lets GET through, with listen.http_token as a bearer token
// when it is set.
func (n *Node) apiAuth(h http.Handler) http.Handler {
	tok := n.cfg.Listen.HTTPToken
	want := []byte("Bearer " + tok)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeJSONError(w, http.StatusMethodNotAllowed, "read-only: GET")
			return
		}
		if tok == "" {
			h.ServeHTTP(w, r)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ismg"`)
			writeJSONError(w, http.StatusUnauthorized, "this port wants listen.http_token as Authorization: Bearer <token>")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// RouteGateway is a gateway as /route and /status show it.
type RouteGateway struct {
	Code    string `json:"code"`
	Name    string `json:"name"`
	Region  string `json:"region"`
	FwdAddr string `json:"fwd_addr"`
}

func routeGateway(g routing.Gateway) RouteGateway {
	return RouteGateway{Code: g.Code, Name: g.Name, Region: g.Region, FwdAddr: g.FwdAddr}
}

// RouteAnswer is /route's answer: where a number (MT) or a service code
// (MO, as asked by this gateway or ?gateway=) goes, and the rule that
// matched.
type RouteAnswer struct {
	Kind     string       `json:"kind"` // mt or mo
	Query    string       `json:"query"`
	Revision uint64       `json:"revision"` // of the table answering
	Gateway  RouteGateway `json:"gateway"`
	Local    bool         `json:"local"` // the gateway is this one
	// Queue is where a message would wait here: mt:<link> or fwd:<gw>
	// (MT), out:<sp> or fwd:<gw> (MO).
	Queue string `json:"queue"`
	// Rule says what matched: "segment", "ported" (MT), "partition" or
	// "default_gateway" (MO).
	Rule        string `json:"rule"`
	Prefix      string `json:"prefix"` // the segment or service code that matched
	RouteID     uint32 `json:"route_id"`
	SMSC        string `json:"smsc"` // the segment's preferred link
	SPID        string `json:"sp_id"`
	SPName      string `json:"sp_name"`
	Partition   string `json:"partition"`
	AskingGW    string `json:"asking_gateway"`
	Description string `json:"description"`
}

func (n *Node) serveRoute(w http.ResponseWriter, r *http.Request) {
	t := n.table()
	q := r.URL.Query()
	num, code := strings.TrimSpace(q.Get("number")), strings.TrimSpace(q.Get("service_code"))
	var a RouteAnswer
	var err error
	switch {
	case num != "":
		a, err = n.routeNumber(t, num)
	case code != "":
		ask := q.Get("gateway")
		if ask == "" {
			ask = n.gw
		}
		a, err = n.routeServiceCode(t, code, ask)
	default:
		writeJSONError(w, http.StatusBadRequest, "want ?number=<MSISDN> or ?service_code=<code>[&gateway=<asking gateway>]")
		return
	}
	if err != nil {
		writeJSONError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, a)
}

func (n *Node) routeNumber(t *routing.Table, num string) (RouteAnswer, error) {
	r, err := t.ResolveMT(num)
	if err != nil {
		return RouteAnswer{}, err
	}
	a := RouteAnswer{Kind: "mt", Query: num, Revision: t.Revision(), Gateway: routeGateway(r.Gateway), Local: r.Gateway.Code == n.gw,
		Rule: "segment", Prefix: r.Segment.Prefix, RouteID: r.Segment.RouteID, SMSC: r.Segment.SMSC}
	a.Description = "segment " + r.Segment.Prefix + " → " + r.Gateway.Code
	if r.Ported {
		a.Rule = "ported"
		a.Description = "ported number → " + r.Gateway.Code + " (segment " + r.Segment.Prefix + " says " + r.Segment.Gateway + ")"
	}
	if qr, _, ok := n.routeMT(t, num); ok {
		a.Queue = qr.queue()
	}
	return a, nil
}

func (n *Node) routeServiceCode(t *routing.Table, code, ask string) (RouteAnswer, error) {
	r, err := t.ResolveMO(code, ask)
	if err != nil {
		return RouteAnswer{}, err
	}
	a := RouteAnswer{Kind: "mo", Query: code, Revision: t.Revision(), Gateway: routeGateway(r.Gateway), Local: r.Gateway.Code == n.gw,
		Rule: "default_gateway", Prefix: r.ServiceCode, RouteID: r.RouteID, SPID: r.SP.ID, SPName: r.SP.Name, Partition: r.Partition, AskingGW: ask}
	a.Description = "service code " + r.ServiceCode + " → SP " + r.SP.ID + " → default gateway " + r.Gateway.Code
	if r.Partition != "" {
		a.Rule = "partition"
		a.Description = "service code " + r.ServiceCode + " → SP " + r.SP.ID + " → partition " + r.Partition + " → " + r.Gateway.Code
	}
	if a.Local {
		a.Queue = n.outQueueOf(r.SP.ID).queue()
	} else {
		a.Queue = n.fwdQueueOf(r.Gateway.Code).queue()
	}
	return a, nil
}
