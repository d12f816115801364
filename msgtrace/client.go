package msgtrace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client fetches hops from the gateways' HTTP ports: GET
// /trace?msg_id=<id>&local=1, whose JSON body is a Hop.
type Client struct {
	// Addr resolves a gateway code to the host:port (or URL) of its HTTP
	// port; false: unknown.
	Addr func(gateway string) (string, bool)
	// Token is the bearer token the HTTP ports require (listen.http_token);
	// empty sends none.
	Token string
	// HTTP is the client used; nil means one with a 5 s timeout.
	HTTP *http.Client
}

// ErrUnknownGateway is returned by Fetch for a gateway Addr does not know.
var ErrUnknownGateway = errors.New("msgtrace: no HTTP address for gateway")

var defaultHTTP = &http.Client{Timeout: 5 * time.Second}

// Fetch asks gateway about id.
func (c *Client) Fetch(ctx context.Context, gateway string, id uint64) (Hop, error) {
	addr, ok := c.Addr(gateway)
	if !ok || addr == "" {
		return Hop{}, fmt.Errorf("%w %s (set federation.peers[].http_addr)", ErrUnknownGateway, gateway)
	}
	var h Hop
	err := c.get(ctx, addr, "/trace?msg_id="+strconv.FormatUint(id, 10)+"&local=1", &h)
	return h, err
}

// Follow gathers id's trace through Fetch.
func (c *Client) Follow(ctx context.Context, id uint64) (Trace, error) {
	return Follow(ctx, id, c.Fetch)
}

// Trace asks the gateway at addr to follow id across the federation
// itself (GET /trace?msg_id=<id>): one address is all a CLI needs, the
// gateway knows its peers' HTTP ports.
func (c *Client) Trace(ctx context.Context, addr string, id uint64) (Trace, error) {
	var tr Trace
	err := c.get(ctx, addr, "/trace?msg_id="+strconv.FormatUint(id, 10), &tr)
	return tr, err
}

// Search asks the gateway at addr for the messages to dest in [from, to)
// (zero bounds are open).
func (c *Client) Search(ctx context.Context, addr, dest string, from, to time.Time) (SearchResult, error) {
	q := url.Values{"dest": {dest}}
	if !from.IsZero() {
		q.Set("from", from.Format(time.RFC3339))
	}
	if !to.IsZero() {
		q.Set("to", to.Format(time.RFC3339))
	}
	var r SearchResult
	err := c.get(ctx, addr, "/trace?"+q.Encode(), &r)
	return r, err
}

func (c *Client) get(ctx context.Context, addr, path string, v any) error {
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+path, nil)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", addr, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	return nil
}

// Match is one message a search found in a gateway's CDRs.
type Match struct {
	MsgID       string     `json:"msg_id"` // decimal, see Hop.MsgID
	Kind        string     `json:"kind"`   // MT, MO or REPORT
	Direction   string     `json:"direction"`
	SPID        string     `json:"sp_id"`
	Src         string     `json:"src"`
	Dest        string     `json:"dest"`
	SubmitTime  *time.Time `json:"submit_time"`
	DoneTime    *time.Time `json:"done_time"`
	FinalStatus string     `json:"final_status"`
	PrevGateway string     `json:"prev_gateway"`
	NextGateway string     `json:"next_gateway"`
}

// SearchResult is a gateway's answer to a search by destination.
type SearchResult struct {
	Gateway   string  `json:"gateway"`
	Matches   []Match `json:"matches"`
	Truncated bool    `json:"truncated"` // more matched than MaxMatches
}

// MaxMatches bounds a search's answer.
const MaxMatches = 200
