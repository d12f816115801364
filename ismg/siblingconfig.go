package ismg

import "github.com/tandem-sms/tandem/cmpp"

// Region HA: several nodes serve one gateway code, all active (siblings).
// Each has its own store, SMSC accounts and Msg_Id share; SPs log in to
// any of them; peers forward to any live one. The configuration:
//
//	gateway:
//	  code: "010001"
//	  node: bj-a         # this node's name (the gossip node name unless
//	                     # federation.membership.node_name says otherwise)
//	  node_index: 0      # 0 .. 2^node_bits-1, unique in the gateway
//	  node_bits: 1       # Msg_Id sequence bits carrying the node index;
//	                     # the same on every node of the gateway
//	federation:
//	  siblings:
//	    secret: "..."    # CONNECT secret between the gateway's nodes
//	    allowed_ips: [10.1.0.0/16]
//	  membership: {...}  # required: who the siblings are, where SPs are

// SiblingsConfig lets the nodes of one gateway pass status reports and MO
// to each other over CMPP_FWD (sibling.go).
type SiblingsConfig struct {
	// Secret is the CONNECT secret between the gateway's nodes (the same
	// on each): a sibling logs in with the gateway's own code and it.
	Secret string `yaml:"secret"`
	// AllowedIPs are the addresses siblings log in from; empty: those of
	// federation.allowed_ips.
	AllowedIPs []string `yaml:"allowed_ips"`
	// Window is the FWDs unanswered per sibling session; 0: federation.window.
	Window int `yaml:"window"`
}

// checkSiblings validates gateway.node* and federation.siblings.
func (c *Config) checkSiblings(bad badFunc) {
	g := c.Gateway
	if g.NodeBits < 0 || g.NodeBits > cmpp.MaxNodeBits {
		bad("gateway.node_bits", "want 0..%d (up to 2^bits nodes, 65536>>bits Msg_Ids a second each), got %d", cmpp.MaxNodeBits, g.NodeBits)
	} else if g.NodeIndex < 0 || g.NodeIndex >= 1<<g.NodeBits {
		bad("gateway.node_index", "want 0..%d (node_bits %d), got %d", 1<<g.NodeBits-1, g.NodeBits, g.NodeIndex)
	}
	if len(g.Node) > 255 {
		bad("gateway.node", "at most 255 bytes, got %d", len(g.Node))
	}
	if m := c.Federation.Membership; m != nil && m.NodeName != "" && g.Node != "" && m.NodeName != g.Node {
		bad("gateway.node", "%q differs from federation.membership.node_name %q: set one", g.Node, m.NodeName)
	}
	s := c.Federation.Siblings
	if s == nil {
		return
	}
	switch {
	case c.Listen.FWD == "":
		bad("federation.siblings", "needs listen.fwd (siblings talk CMPP_FWD)")
	case c.Federation.Membership == nil:
		bad("federation.siblings", "needs federation.membership (gossip says which sibling an SP is logged in to)")
	case s.Secret == "":
		bad("federation.siblings.secret", "required")
	case s.Window < 0:
		bad("federation.siblings.window", "want >= 0, got %d", s.Window)
	}
	if g.NodeBits == 0 {
		bad("gateway.node_bits", "federation.siblings needs node_bits >= 1: the gateway's nodes must split the Msg_Id sequence")
	}
}
