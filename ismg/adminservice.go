package ismg

import (
	"context"
	"fmt"
	"strings"

	"github.com/tandem-sms/tandem/ismg/adminpb"
)

// adminService implements adminpb.AdminServer over the Node's admin
// methods; every change goes through Node.audited.
type adminService struct {
	adminpb.UnimplementedAdminServer
	n *Node
}

func spProto(v SPView) *adminpb.SP {
	return &adminpb.SP{
		SpId: v.SPID, Name: v.Name, AllowedIps: nonNil(v.AllowedIPs), ServiceCodes: nonNil(v.ServiceCodes),
		MaxConnections: int32(v.MaxConnections), Window: int32(v.Window), SubmitRate: v.SubmitRate, Burst: int32(v.Burst),
		Suspended: v.Suspended, Source: v.Source, Sessions: int32(v.Sessions), HasSecret: v.Secret != "",
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func accountOf(p *adminpb.SP) SPAccount {
	return SPAccount{
		SPID: p.GetSpId(), Name: p.GetName(), Secret: p.GetSecret(), AllowedIPs: p.GetAllowedIps(), ServiceCodes: p.GetServiceCodes(),
		MaxConnections: int(p.GetMaxConnections()), Window: int(p.GetWindow()), SubmitRate: p.GetSubmitRate(), Burst: int(p.GetBurst()),
	}
}

// spDetail describes an account change for the audit log (no secret).
func spDetail(p *adminpb.SP, fields []string) string {
	var b []string
	for _, f := range fields {
		switch f {
		case "secret":
			b = append(b, "secret=(changed)")
		case "name":
			b = append(b, "name="+p.GetName())
		case "allowed_ips":
			b = append(b, "allowed_ips="+strings.Join(p.GetAllowedIps(), ","))
		case "service_codes":
			b = append(b, "service_codes="+strings.Join(p.GetServiceCodes(), ","))
		case "max_connections":
			b = append(b, fmt.Sprintf("max_connections=%d", p.GetMaxConnections()))
		case "window":
			b = append(b, fmt.Sprintf("window=%d", p.GetWindow()))
		case "submit_rate":
			b = append(b, fmt.Sprintf("submit_rate=%g", p.GetSubmitRate()))
		case "burst":
			b = append(b, fmt.Sprintf("burst=%d", p.GetBurst()))
		}
	}
	return strings.Join(b, " ")
}

func (s *adminService) ListSPs(context.Context, *adminpb.ListSPsRequest) (*adminpb.ListSPsResponse, error) {
	out := &adminpb.ListSPsResponse{Sps: []*adminpb.SP{}}
	for _, v := range s.n.AdminSPs() {
		out.Sps = append(out.Sps, spProto(v))
	}
	return out, nil
}

func (s *adminService) GetSP(_ context.Context, r *adminpb.SPRef) (*adminpb.SP, error) {
	v, err := s.n.AdminSP(r.GetSpId())
	if err != nil {
		return nil, err
	}
	return spProto(v), nil
}

func (s *adminService) CreateSP(ctx context.Context, r *adminpb.SP) (*adminpb.SP, error) {
	var v SPView
	err := s.n.audited(ctx, "sp.create", r.GetSpId(), spDetail(r, SPFields), func() (err error) {
		v, err = s.n.CreateSP(ctx, accountOf(r))
		return err
	})
	if err != nil {
		return nil, err
	}
	return spProto(v), nil
}

func (s *adminService) ModifySP(ctx context.Context, r *adminpb.ModifySPRequest) (*adminpb.SP, error) {
	var v SPView
	err := s.n.audited(ctx, "sp.modify", r.GetSp().GetSpId(), spDetail(r.GetSp(), r.GetFields()), func() (err error) {
		v, err = s.n.ModifySP(ctx, accountOf(r.GetSp()), r.GetFields())
		return err
	})
	if err != nil {
		return nil, err
	}
	return spProto(v), nil
}

func (s *adminService) suspend(ctx context.Context, id string, on bool) (*adminpb.SP, error) {
	action := "sp.resume"
	if on {
		action = "sp.suspend"
	}
	var v SPView
	err := s.n.audited(ctx, action, id, "", func() (err error) {
		v, err = s.n.SuspendSP(ctx, id, on)
		return err
	})
	if err != nil {
		return nil, err
	}
	return spProto(v), nil
}

func (s *adminService) SuspendSP(ctx context.Context, r *adminpb.SPRef) (*adminpb.SP, error) {
	return s.suspend(ctx, r.GetSpId(), true)
}

func (s *adminService) ResumeSP(ctx context.Context, r *adminpb.SPRef) (*adminpb.SP, error) {
	return s.suspend(ctx, r.GetSpId(), false)
}

func (s *adminService) DeleteSP(ctx context.Context, r *adminpb.SPRef) (*adminpb.DeleteSPResponse, error) {
	var closed int
	err := s.n.audited(ctx, "sp.delete", r.GetSpId(), "", func() (err error) {
		closed, err = s.n.DeleteSP(ctx, r.GetSpId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &adminpb.DeleteSPResponse{SpId: r.GetSpId(), SessionsClosed: int32(closed)}, nil
}

func rulesProto(rs []DestRule) *adminpb.DestRules {
	out := &adminpb.DestRules{Rules: []*adminpb.DestRule{}}
	for _, r := range rs {
		out.Rules = append(out.Rules, &adminpb.DestRule{SpId: r.SPID, List: r.List, Prefix: r.Prefix})
	}
	return out
}

func (s *adminService) ListDestRules(_ context.Context, r *adminpb.ListDestRulesRequest) (*adminpb.DestRules, error) {
	return rulesProto(s.n.DestRules(r.GetSpId())), nil
}

func (s *adminService) setRule(ctx context.Context, r *adminpb.DestRule, add bool) (*adminpb.DestRules, error) {
	rule := DestRule{SPID: r.GetSpId(), List: r.GetList(), Prefix: r.GetPrefix()}
	action, scope := "dest.remove", rule.SPID
	if add {
		action = "dest.add"
	}
	if scope == "" {
		scope = "global"
	}
	err := s.n.audited(ctx, action, scope, rule.List+" "+rule.Prefix, func() error { return s.n.SetDestRule(ctx, rule, add) })
	if err != nil {
		return nil, err
	}
	return rulesProto(s.n.DestRules(rule.SPID)), nil
}

func (s *adminService) AddDestRule(ctx context.Context, r *adminpb.DestRule) (*adminpb.DestRules, error) {
	return s.setRule(ctx, r, true)
}

func (s *adminService) RemoveDestRule(ctx context.Context, r *adminpb.DestRule) (*adminpb.DestRules, error) {
	return s.setRule(ctx, r, false)
}

func linkProto(l LinkState) *adminpb.Link {
	return &adminpb.Link{Name: l.Name, Stopped: l.Stopped, BindsUp: int32(l.BindsUp), Binds: int32(l.Binds), Queued: int64(l.Queued)}
}

func (s *adminService) ListLinks(context.Context, *adminpb.ListLinksRequest) (*adminpb.ListLinksResponse, error) {
	out := &adminpb.ListLinksResponse{Links: []*adminpb.Link{}}
	for _, l := range s.n.Links() {
		out.Links = append(out.Links, linkProto(l))
	}
	return out, nil
}

func (s *adminService) link(ctx context.Context, name string, stop bool) (*adminpb.Link, error) {
	action := "link.start"
	if stop {
		action = "link.stop"
	}
	var l LinkState
	err := s.n.audited(ctx, action, name, "", func() (err error) {
		l, err = s.n.StopLink(name, stop)
		return err
	})
	if err != nil {
		return nil, err
	}
	return linkProto(l), nil
}

func (s *adminService) StopLink(ctx context.Context, r *adminpb.LinkRef) (*adminpb.Link, error) {
	return s.link(ctx, r.GetName(), true)
}

func (s *adminService) StartLink(ctx context.Context, r *adminpb.LinkRef) (*adminpb.Link, error) {
	return s.link(ctx, r.GetName(), false)
}

func levelName(s fmt.Stringer) string { return strings.ToLower(s.String()) }

func (s *adminService) GetLogLevel(context.Context, *adminpb.GetLogLevelRequest) (*adminpb.LogLevel, error) {
	lv, _ := s.n.LogLevel()
	return &adminpb.LogLevel{Level: levelName(lv)}, nil
}

func (s *adminService) SetLogLevel(ctx context.Context, r *adminpb.LogLevel) (*adminpb.LogLevel, error) {
	var out *adminpb.LogLevel
	err := s.n.audited(ctx, "log.level", "", r.GetLevel(), func() error {
		lv, err := s.n.SetLogLevel(r.GetLevel())
		out = &adminpb.LogLevel{Level: levelName(lv)}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func drainProto(d DrainStatus) *adminpb.DrainStatus {
	return &adminpb.DrainStatus{Draining: d.Draining, Empty: d.Empty(), Mt: int64(d.MT), Fwd: int64(d.Fwd), Out: int64(d.Out), SpSessions: int32(d.SPSessions)}
}

func (s *adminService) Drain(ctx context.Context, r *adminpb.DrainRequest) (*adminpb.DrainStatus, error) {
	var d DrainStatus
	action := "drain.off"
	if r.GetOn() {
		action = "drain.on"
	}
	_ = s.n.audited(ctx, action, "", "", func() error {
		d = s.n.SetDraining(r.GetOn())
		return nil
	})
	return drainProto(d), nil
}

func (s *adminService) GetDrainStatus(context.Context, *adminpb.DrainStatusRequest) (*adminpb.DrainStatus, error) {
	return drainProto(s.n.DrainStatus()), nil
}

// Reload reads the node's config file again, as SIGHUP does.
func (s *adminService) Reload(ctx context.Context, _ *adminpb.ReloadRequest) (*adminpb.ReloadReport, error) {
	var r ReloadResult
	_ = s.n.audited(ctx, "reload", s.n.cfg.path, "", func() error {
		r = s.n.ReloadFile(s.n.cfg.path)
		return r.Err
	})
	return reloadProto(r), nil
}

func reloadProto(r ReloadResult) *adminpb.ReloadReport {
	out := &adminpb.ReloadReport{Ok: r.Err == nil, Applied: nonNil(r.Applied), NeedsRestart: nonNil(r.NeedsRestart), TimeUnix: r.Time.Unix()}
	if r.Err != nil {
		out.Error = r.Err.Error()
	}
	return out
}

func (s *adminService) Audit(_ context.Context, r *adminpb.AuditRequest) (*adminpb.AuditResponse, error) {
	lim := int(r.GetLimit())
	if lim <= 0 {
		lim = 50
	}
	es, err := s.n.adm.audit.tail(lim)
	if err != nil {
		return nil, err
	}
	out := &adminpb.AuditResponse{Entries: []*adminpb.AuditEntry{}}
	for _, e := range es {
		out.Entries = append(out.Entries, &adminpb.AuditEntry{Time: e.Time.Format("2006-01-02T15:04:05.000Z07:00"), Who: e.Who,
			Peer: e.Peer, Action: e.Action, Target: e.Target, Detail: e.Detail, Result: e.Result})
	}
	return out, nil
}
