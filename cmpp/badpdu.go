package cmpp

import "errors"

// What a session does with bad input from its peer.
//
// A PDU that cannot be framed, a Total_Length below 12 or above MaxPDU,
// leaves no way to find where the next PDU starts: the session closes
// (ErrBadLength), as it does when the connection ends in the middle of a
// PDU or a PDU does not arrive whole within PDUTimeout.
//
// Any other PDU is consumed whole and the session keeps reading:
//
//   - A request whose body does not decode (a DestUsr_tl of 0 or 100, a
//     Msg_Length that does not match the body, a truncated body...) is
//     answered by the session itself, with the same Sequence_Id, through
//     the request's ErrorResponse(ResultBadStructure): SUBMIT_RESP,
//     DELIVER_RESP and FWD_RESP carry Result 1 ("message structure error"),
//     CANCEL_RESP Success_Id 1 (failure), the GNS route responses
//     GNSBadStructure. The handler never sees it.
//   - QUERY_RESP has no result field, so a QUERY that does not decode is
//     not answered (there is no truthful answer): the peer's request times
//     out as if lost.
//   - ACTIVE_TEST and TERMINATE carry no body; one that comes with bytes
//     anyway is acted on as usual, and CONNECT on a running session still
//     closes it.
//   - A response whose body does not decode completes the request that
//     waits for it with the decode error.
//   - An unknown Command_Id is skipped. CMPP has no generic NACK (SMPP's
//     generic_nack has no CMPP counterpart), and inventing a response
//     Command_Id would only confuse the peer; a request of ours it answers
//     strangely times out like any other.
//
// Each is counted in Stats.DecodeErrors and reported to Config.OnBadPDU
// with one of the reasons below, for a metric label and a rate-limited log
// line; the session itself logs them at Debug only, since a peer can send
// them as fast as it likes.
const (
	BadPDULength         = "bad_length"      // Total_Length out of range: the session closes
	BadPDUUnknownCommand = "unknown_command" // skipped
	BadPDUField          = "bad_field"       // a value contradicting the layout (ErrBadField)
	BadPDUShort          = "short_body"      // the body ends inside a field (ErrShortBody)
	BadPDUTrailing       = "trailing_bytes"  // bytes after the last field (ErrTrailingBytes)
	BadPDUBody           = "bad_body"        // any other decode error
)

// badPDUReason maps a decode error onto its bounded reason.
func badPDUReason(err error) string {
	switch {
	case errors.Is(err, ErrBadField):
		return BadPDUField
	case errors.Is(err, ErrShortBody):
		return BadPDUShort
	case errors.Is(err, ErrTrailingBytes):
		return BadPDUTrailing
	}
	return BadPDUBody
}

// badPDU counts and reports bad input from the peer.
func (s *Session) badPDU(h Header, reason string, err error) {
	if reason != BadPDULength {
		s.stats.DecodeErrors.Add(1)
	}
	s.log.Debug("bad PDU", LogKeyCommand, h.Command.String(), LogKeySeq, h.Seq, LogKeyReason, reason, LogKeyErr, err)
	if s.cfg.OnBadPDU != nil {
		s.cfg.OnBadPDU(s, h, reason, err)
	}
}

// badBody handles a PDU of a known command that was framed but whose body
// p did not decode (err names the PDU and the field), as the comment on
// the reasons above describes. p holds what decoded before the error, so
// a DELIVER_RESP or FWD_RESP can echo the Msg_Id.
func (s *Session) badBody(h Header, p PDU, err error) error {
	s.badPDU(h, badPDUReason(err), err)
	if h.Command.IsResponse() {
		s.stats.ResponsesReceived.Add(1)
		s.deliver(h, nil, err)
		return nil
	}
	switch h.Command {
	case CmdActiveTest, CmdTerminate, CmdConnect:
		return s.dispatch(h, p)
	}
	s.stats.RequestsReceived.Add(1)
	er, ok := p.(ErrorResponder)
	if !ok {
		return nil
	}
	return s.reply(h.Seq, er.ErrorResponse(ResultBadStructure))
}
