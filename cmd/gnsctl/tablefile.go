package main

import (
	"github.com/tandem-sms/tandem/internal/cliout"
	"github.com/tandem-sms/tandem/routing"
)

// tableFile is the live table as a table file for -o json: the keys of
// routing's YAML files (routing/doc.go), every field present, and the
// revision, which routing.Load skips, so the output pushes back unchanged.
func tableFile(l live) object {
	gws := make([]any, 0, len(l.cont.Gateways))
	for _, g := range l.cont.Gateways {
		gws = append(gws, gatewayObject(g))
	}
	segs := make([]any, 0, len(l.cont.Segments))
	for _, s := range l.cont.Segments {
		segs = append(segs, object{{Key: "prefix", Val: s.Prefix}, {Key: "gateway", Val: s.Gateway}, {Key: "smsc", Val: s.SMSC}, {Key: "area_code", Val: s.AreaCode}, {Key: "user_type", Val: s.UserType}})
	}
	ported := make([]any, 0, len(l.cont.Ported))
	for _, p := range l.cont.Ported {
		ported = append(ported, object{{Key: "msisdn", Val: p.MSISDN}, {Key: "gateway", Val: p.Gateway}})
	}
	sps := make([]any, 0, len(l.cont.SPs))
	for _, s := range l.cont.SPs {
		codes := make([]string, 0, len(s.ServiceCodes))
		for _, sc := range s.ServiceCodes {
			codes = append(codes, sc.Code)
		}
		parts := make([]any, 0, len(s.Partitions))
		for _, p := range s.Partitions {
			parts = append(parts, object{{Key: "name", Val: p.Name}, {Key: "regions", Val: nonNil(p.Regions)}, {Key: "gateway", Val: p.Gateway}})
		}
		o := object{{Key: "id", Val: s.ID}, {Key: "name", Val: s.Name}, {Key: "service_codes", Val: codes}, {Key: "gateway", Val: s.Gateway},
			{Key: "mirrors", Val: nonNil(s.Mirrors)}, {Key: "default_gateway", Val: s.DefaultGateway}, {Key: "partitions", Val: parts}}
		if a := s.Account; a != nil {
			// The secret is empty unless asked for (--show-secrets); a push
			// of the file keeps the GNS's then.
			o = append(o, cliout.Field{Key: "account", Val: object{{Key: "secret", Val: a.Secret}, {Key: "allowed_ips", Val: nonNil(a.AllowedIPs)},
				{Key: "max_connections", Val: a.MaxConnections}, {Key: "window", Val: a.Window}, {Key: "submit_rate", Val: a.SubmitRate}, {Key: "burst", Val: a.Burst}}})
		}
		sps = append(sps, o)
	}
	return object{
		{Key: "version", Val: routing.FileVersion},
		{Key: "revision", Val: l.rev},
		{Key: "gateways", Val: gws},
		{Key: "segments", Val: segs},
		{Key: "ported", Val: ported},
		{Key: "sps", Val: sps},
	}
}

func gatewayObject(g routing.Gateway) object {
	return object{{Key: "code", Val: g.Code}, {Key: "name", Val: g.Name}, {Key: "region", Val: g.Region}, {Key: "fwd_addr", Val: g.FwdAddr}, {Key: "province", Val: g.Province}}
}

// nonNil makes an absent list print as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
