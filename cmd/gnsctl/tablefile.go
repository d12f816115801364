package main

import "github.com/tandem-sms/tandem/routing"

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
		segs = append(segs, object{{"prefix", s.Prefix}, {"gateway", s.Gateway}, {"smsc", s.SMSC}, {"area_code", s.AreaCode}, {"user_type", s.UserType}})
	}
	ported := make([]any, 0, len(l.cont.Ported))
	for _, p := range l.cont.Ported {
		ported = append(ported, object{{"msisdn", p.MSISDN}, {"gateway", p.Gateway}})
	}
	sps := make([]any, 0, len(l.cont.SPs))
	for _, s := range l.cont.SPs {
		codes := make([]string, 0, len(s.ServiceCodes))
		for _, sc := range s.ServiceCodes {
			codes = append(codes, sc.Code)
		}
		parts := make([]any, 0, len(s.Partitions))
		for _, p := range s.Partitions {
			parts = append(parts, object{{"name", p.Name}, {"regions", nonNil(p.Regions)}, {"gateway", p.Gateway}})
		}
		sps = append(sps, object{{"id", s.ID}, {"name", s.Name}, {"service_codes", codes}, {"gateway", s.Gateway},
			{"mirrors", nonNil(s.Mirrors)}, {"default_gateway", s.DefaultGateway}, {"partitions", parts}})
	}
	return object{
		{"version", routing.FileVersion},
		{"revision", l.rev},
		{"gateways", gws},
		{"segments", segs},
		{"ported", ported},
		{"sps", sps},
	}
}

func gatewayObject(g routing.Gateway) object {
	return object{{"code", g.Code}, {"name", g.Name}, {"region", g.Region}, {"fwd_addr", g.FwdAddr}, {"province", g.Province}}
}

// nonNil makes an absent list print as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
