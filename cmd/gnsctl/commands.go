package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tandem-sms/tandem/gns/gnspb"
	"github.com/tandem-sms/tandem/routing"
)

// importChunk is how many segments or ported numbers one ImportTable
// message carries.
const importChunk = 20000

// parse parses flags and positional arguments in any order ("segment add
// 1380010 001001 --smsc north") and checks the positional count.
func parse(fs *flag.FlagSet, args []string, minPos, maxPos int, usage string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%s: %v", usage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) < minPos || len(pos) > maxPos {
		return nil, usagef("usage: %s", usage)
	}
	return pos, nil
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *ctl) printJSON(m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitUnpopulated: false}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "%s\n", b)
	return err
}

func (c *ctl) table(header string, rows [][]string) {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func (c *ctl) write(ctx context.Context, kind callKind, changes ...*gnspb.Change) error {
	resp, err := call(ctx, c, kind, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.WriteResponse, error) {
		return g.Write(ctx, &gnspb.WriteRequest{Changes: changes})
	})
	if errors.Is(err, errDoneEarlier) {
		fmt.Fprintf(c.stdout, "ok: an earlier attempt, whose answer was lost in a leader change, applied it (the retry found %s)\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(resp)
	}
	fmt.Fprintf(c.stdout, "ok, revision %d\n", resp.Revision)
	return nil
}

func (c *ctl) tablePush(ctx context.Context, args []string) error {
	pos, err := parse(flag.NewFlagSet("table push", flag.ContinueOnError), args, 1, 1, "table push FILE")
	if err != nil {
		return err
	}
	t, err := routing.LoadFile(pos[0])
	if err != nil {
		var ve *routing.ValidationError
		if errors.As(err, &ve) {
			for _, fe := range ve.Errors {
				fmt.Fprintln(c.stderr, fe.String())
			}
			fmt.Fprintf(c.stderr, "gnsctl: %s: %d problem(s), nothing pushed\n", pos[0], len(ve.Errors))
			return errReported
		}
		return err
	}
	chunks := gnspb.Chunks(t, importChunk)
	resp, err := call(ctx, c, pushCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.ImportResponse, error) {
		st, err := g.ImportTable(ctx)
		if err != nil {
			return nil, err
		}
		for _, ch := range chunks {
			if err := st.Send(ch); err != nil {
				if err == io.EOF {
					break // the server ended the stream; CloseAndRecv says why
				}
				return nil, err
			}
		}
		return st.CloseAndRecv()
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(resp)
	}
	fmt.Fprintf(c.stdout, "pushed %s: revision %d, %d gateways, %d SPs, %d segments, %d ported\n",
		pos[0], resp.Revision, resp.Gateways, resp.Sps, resp.Segments, resp.Ported)
	return nil
}

func (c *ctl) tableExport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("table export", flag.ContinueOnError)
	format := fs.String("o", "", "yaml: a loadable table file")
	stale := fs.Bool("stale", false, "read this node's table without asking the leader")
	if _, err := parse(fs, args, 0, 0, "table export [-o yaml] [--stale]"); err != nil {
		return err
	}
	if *format != "" && *format != "yaml" {
		return usagef("table export -o %q: only yaml", *format)
	}
	chunks, err := call(ctx, c, readCall, func(ctx context.Context, g gnspb.GNSClient) ([]*gnspb.TableChunk, error) {
		st, err := g.ExportTable(ctx, &gnspb.ExportRequest{Stale: *stale})
		if err != nil {
			return nil, err
		}
		var out []*gnspb.TableChunk
		for {
			ch, err := st.Recv()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			out = append(out, ch)
		}
	})
	if err != nil {
		return err
	}
	cont, err := gnspb.ContentsFromChunks(chunks)
	if err != nil {
		return err
	}
	switch {
	case *format == "yaml":
		t, err := routing.FromContents(cont)
		if err != nil {
			return fmt.Errorf("exported table does not load: %w", err)
		}
		return t.Export(c.stdout)
	case c.output == "json":
		all := &gnspb.TableChunk{}
		for _, ch := range chunks {
			all.Gateways = append(all.Gateways, ch.Gateways...)
			all.Sps = append(all.Sps, ch.Sps...)
			all.Segments = append(all.Segments, ch.Segments...)
			all.Ported = append(all.Ported, ch.Ported...)
		}
		return c.printJSON(all)
	}
	var rows [][]string
	for _, g := range cont.Gateways {
		rows = append(rows, []string{g.Code, g.Name, g.Region, g.FwdAddr})
	}
	c.table("GATEWAY\tNAME\tREGION\tFWD_ADDR", rows)
	fmt.Fprintln(c.stdout)
	rows = nil
	for _, s := range cont.SPs {
		rows = append(rows, spRow(gnspb.NewSP(s)))
	}
	c.table("SP\tNAME\tCODES\tGATEWAY\tPARTITIONS", rows)
	fmt.Fprintf(c.stdout, "\n%d segments, %d ported numbers (use -o yaml for all of them)\n", len(cont.Segments), len(cont.Ported))
	return nil
}

func spRow(s *gnspb.SP) []string {
	var codes, parts []string
	for _, sc := range s.ServiceCodes {
		codes = append(codes, sc.Code)
	}
	for _, p := range s.Partitions {
		parts = append(parts, fmt.Sprintf("%s=%s:%s", p.Name, strings.Join(p.Regions, ","), p.Gateway))
	}
	return []string{s.SpId, s.Name, strings.Join(codes, ","), s.PrimaryGateway, strings.Join(parts, " ")}
}

// parsePartition reads name=region1,region2:gateway.
func parsePartition(s string) (*gnspb.Partition, error) {
	name, rest, ok := strings.Cut(s, "=")
	regions, gw, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || name == "" || gw == "" || regions == "" {
		return nil, usagef("--partition %q: want name=region1,region2:gateway", s)
	}
	return &gnspb.Partition{Name: name, Regions: splitComma(regions), Gateway: gw}, nil
}

func (c *ctl) spAdd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sp add", flag.ContinueOnError)
	id := fs.String("id", "", "SP_Id, 6 digits")
	name := fs.String("name", "", "SP name")
	codes := fs.String("codes", "", "service codes, comma-separated")
	gw := fs.String("gateway", "", "primary access gateway")
	mirrors := fs.String("mirrors", "", "mirror access gateways, comma-separated")
	def := fs.String("default", "", "MO gateway when no partition matches (default: --gateway)")
	var parts listFlag
	fs.Var(&parts, "partition", "name=region1,region2:gateway (repeatable)")
	const usage = "sp add --id ID --name N --codes C1,C2 --gateway GW [--mirrors ..] [--default GW] [--partition name=r1,r2:gw ...]"
	if _, err := parse(fs, args, 0, 0, usage); err != nil {
		return err
	}
	if *id == "" || *codes == "" || *gw == "" {
		return usagef("usage: %s", usage)
	}
	sp := &gnspb.SP{SpId: *id, Name: *name, PrimaryGateway: *gw, MirrorGateways: splitComma(*mirrors), DefaultGateway: *def}
	for _, code := range splitComma(*codes) {
		sp.ServiceCodes = append(sp.ServiceCodes, &gnspb.ServiceCode{Code: code})
	}
	for _, p := range parts {
		pp, err := parsePartition(p)
		if err != nil {
			return err
		}
		sp.Partitions = append(sp.Partitions, pp)
	}
	return c.write(ctx, writeCall, &gnspb.Change{Op: &gnspb.Change_PutSp{PutSp: sp}})
}

func (c *ctl) spRemove(ctx context.Context, args []string) error {
	pos, err := parse(flag.NewFlagSet("sp rm", flag.ContinueOnError), args, 1, 1, "sp rm ID")
	if err != nil {
		return err
	}
	return c.write(ctx, deleteCall, &gnspb.Change{Op: &gnspb.Change_DeleteSp{DeleteSp: pos[0]}})
}

func (c *ctl) spShow(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sp show", flag.ContinueOnError)
	stale := fs.Bool("stale", false, "read this node's table without asking the leader")
	pos, err := parse(fs, args, 1, 1, "sp show ID [--stale]")
	if err != nil {
		return err
	}
	sp, err := call(ctx, c, readCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.SP, error) {
		return g.GetSP(ctx, &gnspb.GetSPRequest{SpId: pos[0], Stale: *stale})
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(sp)
	}
	c.table("SP\tNAME\tCODES\tGATEWAY\tPARTITIONS", [][]string{spRow(sp)})
	return nil
}

func (c *ctl) segmentAdd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("segment add", flag.ContinueOnError)
	smsc := fs.String("smsc", "", "preferred SMSC link at the home gateway")
	area := fs.String("area", "", "CMPP Area_code")
	userType := fs.Uint("user-type", 0, "CMPP User_type")
	pos, err := parse(fs, args, 2, 2, "segment add PREFIX GATEWAY [--smsc LINK] [--area CODE] [--user-type N]")
	if err != nil {
		return err
	}
	return c.write(ctx, writeCall, &gnspb.Change{Op: &gnspb.Change_PutSegment{PutSegment: &gnspb.Segment{
		Prefix: pos[0], Gateway: pos[1], SmscLink: *smsc, AreaCode: *area, UserType: uint32(*userType),
	}}})
}

func (c *ctl) segmentRemove(ctx context.Context, args []string) error {
	pos, err := parse(flag.NewFlagSet("segment rm", flag.ContinueOnError), args, 1, 1, "segment rm PREFIX")
	if err != nil {
		return err
	}
	return c.write(ctx, deleteCall, &gnspb.Change{Op: &gnspb.Change_DeleteSegment{DeleteSegment: pos[0]}})
}

func (c *ctl) routeMT(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("route mt", flag.ContinueOnError)
	stale := fs.Bool("stale", false, "answer from the node asked, without the leader")
	pos, err := parse(fs, args, 1, 1, "route mt NUMBER [--stale]")
	if err != nil {
		return err
	}
	r, err := call(ctx, c, readCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.ResolveMTResponse, error) {
		return g.ResolveMT(ctx, &gnspb.ResolveMTRequest{Msisdn: pos[0], Stale: *stale})
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(r)
	}
	match := "segment " + r.GetSegment().GetPrefix()
	if r.Ported {
		match = "ported number"
	}
	c.table("NUMBER\tGATEWAY\tNAME\tREGION\tFWD_ADDR\tMATCH\tSMSC\tREVISION", [][]string{{
		pos[0], r.Gateway.Code, r.Gateway.Name, r.Gateway.Region, r.Gateway.FwdAddr, match, r.GetSegment().GetSmscLink(), strconv.FormatUint(r.Revision, 10),
	}})
	return nil
}

func (c *ctl) routeMO(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("route mo", flag.ContinueOnError)
	gw := fs.String("gateway", "", "the asking gateway")
	region := fs.String("region", "", "a region, standing for a gateway of that region")
	stale := fs.Bool("stale", false, "answer from the node asked, without the leader")
	const usage = "route mo CODE (--gateway GW | --region R) [--stale]"
	pos, err := parse(fs, args, 1, 1, usage)
	if err != nil {
		return err
	}
	if (*gw == "") == (*region == "") {
		return usagef("usage: %s (exactly one of --gateway, --region)", usage)
	}
	r, err := call(ctx, c, readCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.ResolveMOResponse, error) {
		return g.ResolveMO(ctx, &gnspb.ResolveMORequest{ServiceCode: pos[0], AskingGateway: *gw, AskingRegion: *region, Stale: *stale})
	})
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(r)
	}
	part := r.Partition
	if part == "" {
		part = "(default)"
	}
	c.table("CODE\tSP\tSP_NAME\tPARTITION\tGATEWAY\tNAME\tFWD_ADDR\tREVISION", [][]string{{
		pos[0], r.Sp.SpId, r.Sp.Name, part, r.Gateway.Code, r.Gateway.Name, r.Gateway.FwdAddr, strconv.FormatUint(r.Revision, 10),
	}})
	return nil
}

func (c *ctl) clusterStatus(ctx context.Context, args []string) error {
	if _, err := parse(flag.NewFlagSet("cluster status", flag.ContinueOnError), args, 0, 0, "cluster status"); err != nil {
		return err
	}
	cs, err := call(ctx, c, readCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.ClusterStatusResponse, error) {
		return g.ClusterStatus(ctx, &gnspb.ClusterStatusRequest{})
	})
	if err != nil {
		return err
	}
	dc := checkDigests(cs)
	if c.output == "json" {
		if err := c.printJSON(cs); err != nil {
			return err
		}
	} else {
		var rows [][]string
		for _, m := range cs.Members {
			role := ""
			if m.Leader {
				role = "leader"
			}
			rev, digest := "-", "-"
			if st := m.Status; st != nil {
				rev, digest = strconv.FormatUint(st.TableDigestRevision, 10), short(st.TableDigest)
			}
			rows = append(rows, []string{m.Id, m.RaftAddr, m.GrpcAddr, m.Suffrage, role, rev, digest})
		}
		c.table("ID\tRAFT\tGRPC\tSUFFRAGE\tROLE\tREVISION\tDIGEST", rows)
		fmt.Fprintf(c.stdout, "\nanswered by %s (%s), revision %d, applied index %d\n", cs.NodeId, cs.State, cs.Revision, cs.AppliedIndex)
		for _, n := range dc.notes {
			fmt.Fprintln(c.stdout, "note:", n)
		}
		if len(dc.diverged) == 0 && len(dc.agreed) > 1 {
			fmt.Fprintf(c.stdout, "tables agree: %s hold the same content at revision %d\n", strings.Join(dc.agreed, ", "), dc.rev)
		}
	}
	if len(dc.diverged) > 0 {
		for _, d := range dc.diverged {
			fmt.Fprintln(c.stderr, "gnsctl: TABLES DIVERGED:", d)
		}
		fmt.Fprintln(c.stderr, "gnsctl: a node whose table differs at the same revision applied different entries than the others; rebuild it from the others (remove it, wipe its data directory, join it again) and find out how (see gns_raft_tls_handshake_failures_total and the Raft TLS settings)")
		return errReported
	}
	return nil
}

func (c *ctl) clusterJoin(ctx context.Context, args []string) error {
	pos, err := parse(flag.NewFlagSet("cluster join", flag.ContinueOnError), args, 3, 3, "cluster join ID RAFTADDR GRPCADDR")
	if err != nil {
		return err
	}
	if _, err := call(ctx, c, writeCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.JoinResponse, error) {
		return g.Join(ctx, &gnspb.JoinRequest{Id: pos[0], RaftAddr: pos[1], GrpcAddr: pos[2]})
	}); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "joined %s\n", pos[0])
	return nil
}

func (c *ctl) clusterRemove(ctx context.Context, args []string) error {
	pos, err := parse(flag.NewFlagSet("cluster remove", flag.ContinueOnError), args, 1, 1, "cluster remove ID")
	if err != nil {
		return err
	}
	if _, err := call(ctx, c, writeCall, func(ctx context.Context, g gnspb.GNSClient) (*gnspb.RemoveResponse, error) {
		return g.Remove(ctx, &gnspb.RemoveRequest{Id: pos[0]})
	}); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "removed %s\n", pos[0])
	return nil
}

// watch prints events until ctx ends (interrupt), which is a normal end.
func (c *ctl) watch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	from := fs.Uint64("from", 0, "resume after this revision (0: start with a snapshot)")
	if _, err := parse(fs, args, 0, 0, "watch [--from REV]"); err != nil {
		return err
	}
	_, err := call(ctx, c, watchCall, func(ctx context.Context, g gnspb.GNSClient) (struct{}, error) {
		st, err := g.Watch(ctx, &gnspb.WatchRequest{FromRevision: *from})
		if err != nil {
			return struct{}{}, err
		}
		for {
			ev, err := st.Recv()
			if err != nil {
				return struct{}{}, err
			}
			c.printEvent(ev)
		}
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (c *ctl) printEvent(ev *gnspb.WatchEvent) {
	if c.output == "json" {
		b, _ := protojson.Marshal(ev)
		fmt.Fprintf(c.stdout, "%s\n", b)
		return
	}
	if ev.Snapshot {
		if ev.Reset_ {
			fmt.Fprintf(c.stdout, "rev %d snapshot begins\n", ev.Revision)
		}
		fmt.Fprintf(c.stdout, "rev %d snapshot part: %d entries\n", ev.Revision, len(ev.Changes))
		if ev.SnapshotDone {
			fmt.Fprintf(c.stdout, "rev %d snapshot done\n", ev.Revision)
		}
		return
	}
	for _, ch := range ev.Changes {
		fmt.Fprintf(c.stdout, "rev %d %s\n", ev.Revision, describe(ch))
	}
}

func describe(ch *gnspb.Change) string {
	switch op := ch.Op.(type) {
	case *gnspb.Change_PutGateway:
		return fmt.Sprintf("put gateway %s %s region=%s fwd=%s", op.PutGateway.Code, op.PutGateway.Name, op.PutGateway.Region, op.PutGateway.FwdAddr)
	case *gnspb.Change_DeleteGateway:
		return "delete gateway " + op.DeleteGateway
	case *gnspb.Change_PutSegment:
		return fmt.Sprintf("put segment %s -> %s (route %d)", op.PutSegment.Prefix, op.PutSegment.Gateway, op.PutSegment.RouteId)
	case *gnspb.Change_DeleteSegment:
		return "delete segment " + op.DeleteSegment
	case *gnspb.Change_PutPorted:
		return fmt.Sprintf("put ported %s -> %s", op.PutPorted.Msisdn, op.PutPorted.Gateway)
	case *gnspb.Change_DeletePorted:
		return "delete ported " + op.DeletePorted
	case *gnspb.Change_PutSp:
		return "put sp " + strings.Join(spRow(op.PutSp), " ")
	case *gnspb.Change_DeleteSp:
		return "delete sp " + op.DeleteSp
	}
	return "unknown change"
}
