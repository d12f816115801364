package smpp

import "errors"

// What a session does with bad input from its peer.
//
// A command_length below 16 or above MaxPDU cannot be framed: the session
// answers generic_nack ESME_RINVCMDLEN and closes (ErrBadLength), as it
// does when the connection ends inside a PDU or a PDU does not arrive
// whole within PDUTimeout (ErrPDUTimeout). Any other PDU is consumed whole
// and the session keeps reading:
//
//   - A request whose body does not decode gets its own response, header
//     only, with the status StatusFor gives the error: ESME_RINVCMDLEN for
//     a truncated body or trailing bytes, the field's own status where the
//     spec has one (ESME_RINVSYSID, ESME_RINVSRCADR...), ESME_RINVOPTPARSTREAM
//     for a broken TLV, ESME_RSYSERR otherwise. The Handler never sees it.
//   - An unknown command_id gets generic_nack ESME_RINVCMDID (§2.2).
//   - A response whose body does not decode completes the request waiting
//     for it with the decode error.
//
// Each is counted in Stats.DecodeErrors and reported, with one of the
// reasons below, to the Handler if it implements BadPDUObserver: a metric
// label and a rate-limited log line are the observer's job, as the session
// logs them at Debug only (a peer can send them as fast as it likes).
const (
	BadPDULength         = "bad_length"      // command_length out of range: the session closes
	BadPDUUnknownCommand = "unknown_command" // answered generic_nack
	BadPDUField          = "bad_field"       // a value out of range or a C-octet string too long
	BadPDUShort          = "short_body"      // the body ends inside a field (ErrTruncated)
	BadPDUTrailing       = "trailing_bytes"  // bytes after the last field (ErrTrailing)
	BadPDUTLV            = "bad_tlv"         // a TLV running past the body (ErrBadTLV)
	BadPDUBody           = "bad_body"        // any other decode error
)

// BadPDUObserver is implemented by a Handler that wants to hear of the bad
// PDUs its session received (see BadPDUField and its neighbours). BadPDU
// runs on the reader goroutine, just before the session answers the PDU,
// so it must not block.
type BadPDUObserver interface {
	BadPDU(s *Session, h Header, reason string, err error)
}

// badPDUReason maps a decode error onto its bounded reason.
func badPDUReason(err error) string {
	switch {
	case errors.Is(err, ErrBadLength):
		return BadPDULength
	case errors.Is(err, ErrUnknownCommand):
		return BadPDUUnknownCommand
	case errors.Is(err, ErrTruncated):
		return BadPDUShort
	case errors.Is(err, ErrTrailing):
		return BadPDUTrailing
	case errors.Is(err, ErrBadTLV):
		return BadPDUTLV
	case errors.Is(err, ErrBadValue), errors.Is(err, ErrCString):
		return BadPDUField
	}
	return BadPDUBody
}

// badPDU counts and reports a PDU from the peer that did not decode.
func (s *Session) badPDU(h Header, err error) {
	reason := badPDUReason(err)
	s.stats.DecodeErrors.Add(1)
	s.log.Debug("bad PDU", LogKeyCommand, h.ID.String(), LogKeySeq, h.Seq, LogKeyReason, reason, LogKeyErr, err)
	if o, ok := s.h.(BadPDUObserver); ok {
		o.BadPDU(s, h, reason, err)
	}
}
