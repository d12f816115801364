package cmpp

// ActiveTest is CMPP_ACTIVE_TEST: a keep-alive with no body.
type ActiveTest struct{}

func (*ActiveTest) Command() CommandID                      { return CmdActiveTest }
func (*ActiveTest) AppendBody(b []byte, _ Version) []byte   { return b }
func (*ActiveTest) DecodeBody(body []byte, _ Version) error { return emptyBody("ACTIVE_TEST", body) }

// ActiveTestResp is CMPP_ACTIVE_TEST_RESP, whose body is one reserved byte.
type ActiveTestResp struct{ Reserved uint8 }

func (*ActiveTestResp) Command() CommandID { return CmdActiveTestResp }
func (p *ActiveTestResp) AppendBody(b []byte, _ Version) []byte {
	return append(b, p.Reserved)
}

// DecodeBody accepts an empty body too: some peers omit the reserved byte.
func (p *ActiveTestResp) DecodeBody(body []byte, _ Version) error {
	p.Reserved = 0
	if len(body) == 0 {
		return nil
	}
	r := newReader("ACTIVE_TEST_RESP", body)
	p.Reserved = r.u8("Reserved")
	return r.done()
}
