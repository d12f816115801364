package ismg

import (
	"fmt"

	"github.com/tandem-sms/tandem/smpp"
	"github.com/tandem-sms/tandem/smstext"
)

// buildSubmits turns one queued MT into its submit_sm PDUs. The CMPP text
// is converted to what the SMSC reads (protocols.md §1.10, §2.4): UCS2 →
// data_coding 8; GBK → transcoded to UCS2 (8); ASCII → the link's
// data_coding 0 alphabet (GSM7 → 0, Latin-1 → 3), or UCS2 when GSM7 cannot
// carry it; binary and anything else → 4. A UDH the SP sent (TP_udhi=1) is
// kept, with esm_class 0x40. If transcoding makes the text overflow one
// message it is split with a concatenation UDH (ref from the link's
// counter); if the SP's own UDH is already there, the text goes in
// message_payload instead, since nesting concatenations is not possible.
func buildSubmits(r *mtRecord, dc0 smstext.Coding, ref uint16) ([]*smpp.SubmitSM, error) {
	var udh, ud []byte
	if r.TPUDHI == 1 {
		h, rest, err := smstext.ParseUDH(r.Content)
		if err != nil {
			return nil, fmt.Errorf("ismg: TP_udhi=1 but %w", err)
		}
		udh, ud = r.Content[:h.Len()], rest
	} else {
		ud = r.Content
	}
	from := smstext.FromCMPP(r.MsgFmt)
	out := from
	payload := ud
	var err error
	switch from {
	case smstext.UCS2, smstext.Binary:
	case smstext.GBK:
		out = smstext.UCS2
		payload, err = smstext.Transcode(ud, smstext.GBK, smstext.UCS2)
	case smstext.ASCII:
		out = dc0
		if out == smstext.Latin1 {
			break // ASCII is a subset of Latin-1
		}
		payload, err = smstext.Transcode(ud, smstext.ASCII, smstext.GSM7)
		if err != nil {
			out = smstext.UCS2
			payload, err = smstext.Transcode(ud, smstext.ASCII, smstext.UCS2)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ismg: convert Msg_Fmt %d text: %w", r.MsgFmt, err)
	}
	dc := out.SMPPDataCoding()
	base := smpp.SubmitSM{
		SourceAddr:         smpp.Addr{TON: 0, NPI: 0, Addr: r.SrcID},
		DestAddr:           smpp.Addr{TON: 0, NPI: 1, Addr: r.Dest},
		ProtocolID:         r.TPPID,
		PriorityFlag:       min(r.MsgLevel, 3),
		RegisteredDelivery: smpp.RegDeliveryFinal,
		DataCoding:         dc,
	}
	single, _ := smstext.Capacity(out, smstext.ConcatUDH8)
	if len(udh)+len(payload) <= single {
		p := base
		p.ShortMessage = append(append(make([]byte, 0, len(udh)+len(payload)), udh...), payload...)
		if len(udh) > 0 {
			p.ESMClass |= smpp.ESMClassUDHI
		}
		return []*smpp.SubmitSM{&p}, nil
	}
	return splitOrPayload(base, udh, payload, out, ref)
}

func splitOrPayload(base smpp.SubmitSM, udh, payload []byte, c smstext.Coding, ref uint16) ([]*smpp.SubmitSM, error) {
	if len(udh) > 0 {
		p := base
		p.ESMClass |= smpp.ESMClassUDHI
		p.TLVs = nil
		p.TLVs.SetMessagePayload(append(append([]byte(nil), udh...), payload...))
		return []*smpp.SubmitSM{&p}, nil
	}
	segs, err := smstext.Split(payload, c, smstext.SplitOptions{Ref: ref})
	if err != nil {
		return nil, fmt.Errorf("ismg: split: %w", err)
	}
	out := make([]*smpp.SubmitSM, len(segs))
	for i, s := range segs {
		p := base
		p.ShortMessage = s.Bytes()
		if len(s.UDH) > 0 {
			p.ESMClass |= smpp.ESMClassUDHI
		}
		out[i] = &p
	}
	return out, nil
}

// moToCMPP converts an MO's user data to CMPP: UCS2 stays UCS2 (8); the
// GSM7/Latin-1/IA5 alphabets become ASCII (0) when they only hold ASCII,
// else UCS2; GBK (15) stays; binary stays binary (4). A UDH is kept as is.
func moToCMPP(d *smpp.DeliverSM, dc0 smstext.Coding) (content []byte, msgFmt, udhi uint8) {
	data := d.Payload()
	var udh []byte
	if d.ESMClass&smpp.ESMClassUDHI != 0 {
		if h, rest, err := smstext.ParseUDH(data); err == nil {
			udh, data = data[:h.Len()], rest
			udhi = 1
		}
	}
	c := smstext.FromSMPP(d.DataCoding, dc0)
	var out []byte
	switch c {
	case smstext.UCS2, smstext.GBK, smstext.Binary:
		out = data
		msgFmt = c.CMPPMsgFmt()
	default:
		if b, err := smstext.Transcode(data, c, smstext.ASCII); err == nil {
			out, msgFmt = b, 0
		} else if b, err := smstext.Transcode(data, c, smstext.UCS2); err == nil {
			out, msgFmt = b, 8
		} else {
			out, msgFmt = data, 4
		}
	}
	content = append(append(make([]byte, 0, len(udh)+len(out)), udh...), out...)
	if len(content) > 255 {
		content = content[:255]
	}
	return content, msgFmt, udhi
}
