package smstext

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestFromCMPP(t *testing.T) {
	tests := []struct {
		fmt  uint8
		want Coding
		back uint8
	}{
		{0, ASCII, 0},
		{3, Binary, 4},
		{4, Binary, 4},
		{8, UCS2, 8},
		{15, GBK, 15},
		{9, Binary, 4},
		{255, Binary, 4},
	}
	for _, tt := range tests {
		got := FromCMPP(tt.fmt)
		if got != tt.want {
			t.Errorf("FromCMPP(%d) = %v, want %v", tt.fmt, got, tt.want)
		}
		if b := got.CMPPMsgFmt(); b != tt.back {
			t.Errorf("%v.CMPPMsgFmt() = %d, want %d", got, b, tt.back)
		}
	}
	if GSM7.CMPPMsgFmt() != 4 || Latin1.CMPPMsgFmt() != 4 {
		t.Errorf("GSM7/Latin1 must report binary on CMPP")
	}
}

func TestFromSMPP(t *testing.T) {
	tests := []struct {
		dc   uint8
		dc0  Coding
		want Coding
	}{
		{0, GSM7, GSM7},
		{0, Latin1, Latin1},
		{0, ASCII, ASCII},
		{0, UCS2, GSM7}, // not a valid dc0: default alphabet
		{0, 0, GSM7},
		{1, GSM7, ASCII},
		{2, GSM7, Binary},
		{3, GSM7, Latin1},
		{4, GSM7, Binary},
		{5, GSM7, Binary}, // JIS: not decodable here
		{8, GSM7, UCS2},
		{14, GSM7, Binary},
		{0x11, GSM7, GSM7},   // general group, class 1, GSM7
		{0x15, GSM7, Binary}, // general group, 8-bit
		{0x18, GSM7, UCS2},   // general group, UCS2
		{0x38, GSM7, Binary}, // compressed
		{0x48, GSM7, UCS2},   // automatic deletion group, UCS2
		{0x90, GSM7, Binary}, // reserved
		{0xC0, GSM7, GSM7},
		{0xD8, GSM7, GSM7},
		{0xE0, GSM7, UCS2},
		{0xF0, GSM7, GSM7},
		{0xF1, Latin1, GSM7},
		{0xF4, GSM7, Binary},
		{0xF6, GSM7, Binary},
	}
	for _, tt := range tests {
		if got := FromSMPP(tt.dc, tt.dc0); got != tt.want {
			t.Errorf("FromSMPP(0x%02X, %v) = %v, want %v", tt.dc, tt.dc0, got, tt.want)
		}
	}
	for c, want := range map[Coding]uint8{GSM7: 0, ASCII: 1, Latin1: 3, Binary: 4, UCS2: 8, GBK: 15} {
		if got := c.SMPPDataCoding(); got != want {
			t.Errorf("%v.SMPPDataCoding() = %d, want %d", c, got, want)
		}
		if c != GBK && FromSMPP(c.SMPPDataCoding(), GSM7) != c {
			t.Errorf("%v does not survive SMPPDataCoding/FromSMPP", c)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	tests := []struct {
		name string
		c    Coding
		text string
		hex  string
	}{
		{"ascii", ASCII, "Hello CMPP", "48656c6c6f20434d5050"},
		{"ascii empty", ASCII, "", ""},
		{"gsm7 basic", GSM7, "@£$¥ Δ_ ¡¿§", "00010203 20 10 11 20 40 60 5f"},
		{"gsm7 extension", GSM7, "€[]{}|^~\\\f", "1b65 1b3c 1b3e 1b28 1b29 1b40 1b14 1b3d 1b2f 1b0a"},
		{"gsm7 text", GSM7, "Price: 5€ {ok}", "50726963653a2035 1b65 20 1b28 6f6b 1b29"},
		{"gsm7 accents", GSM7, "Ça sÉrt à Ñoño", "09612073 1f 7274 20 7f 20 5d 6f 7d 6f"},
		{"latin1", Latin1, "café ÿ", "636166e920ff"},
		{"ucs2 chinese", UCS2, "你好，世界", "4f60597dff0c4e16754c"},
		{"ucs2 mixed", UCS2, "测试gocmpp submit", "6d4b8bd50067006f0063006d007000700020007300750062006d00690074"},
		{"ucs2 emoji", UCS2, "a😀b", "0061 d83d de00 0062"},
		{"ucs2 replacement char", UCS2, "\uFFFD", "fffd"},
		{"gbk chinese", GBK, "你好", "c4e3bac3"},
		{"gbk mixed", GBK, "中文SMS短信", "d6d0cec4 534d53 b6ccd0c5"},
		{"gbk punctuation", GBK, "你好，世界", "c4e3bac3a3accac0bde7"},
		{"binary", Binary, "\x00\xff\x10", "00ff10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			got, err := Encode(tt.c, tt.text)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Encode = %x, want %x", got, want)
			}
			s, err := Decode(tt.c, want)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if s != tt.text {
				t.Fatalf("Decode = %q, want %q", s, tt.text)
			}
			// Appending must keep what is already in dst.
			pre := []byte("xy")
			got, err = AppendEncode(pre, tt.c, tt.text)
			if err != nil || !bytes.Equal(got[:2], []byte("xy")) || !bytes.Equal(got[2:], want) {
				t.Fatalf("AppendEncode = %x, %v", got, err)
			}
		})
	}
}

// The golden vectors carry UCS2 content with its text; Encode must produce
// exactly those bytes.
func TestEncodeMatchesVectors(t *testing.T) {
	cmpp := loadVectors(t, "cmpp_vectors.json")
	smpp := loadVectors(t, "smpp_vectors.json")
	for _, v := range []vector{
		mustVector(t, cmpp, "gocmpp_submit_v3"),
		mustVector(t, cmpp, "submit_v30_ucs2"),
	} {
		got, err := Encode(UCS2, v.str(t, "Msg_Content_utf8"))
		if err != nil || !bytes.Equal(got, v.hexInput(t, "Msg_Content_ucs2_hex")) {
			t.Errorf("%s: Encode = %x, %v", v.Name, got, err)
		}
		if !bytes.Contains(v.pdu(t), got) {
			t.Errorf("%s: content not in PDU", v.Name)
		}
	}
	for _, v := range []vector{
		mustVector(t, smpp, "gosmpp_submit_sm_ucs2"),
		mustVector(t, smpp, "submit_sm_ucs2"),
	} {
		got, err := Encode(UCS2, v.str(t, "short_message_utf8"))
		if err != nil || !bytes.Equal(got, v.hexInput(t, "short_message_ucs2_hex")) {
			t.Errorf("%s: Encode = %x, %v", v.Name, got, err)
		}
	}
	for _, name := range []string{"submit_v20_ascii", "gocmpp_deliver_mo_v3"} {
		v := mustVector(t, cmpp, name)
		got, err := Encode(FromCMPP(uint8(v.num(t, "Msg_Fmt"))), v.str(t, "Msg_Content"))
		if err != nil || !bytes.Contains(v.pdu(t), got) || len(got) != v.num(t, "Msg_Length") {
			t.Errorf("%s: Encode = %x, %v", name, got, err)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		c      Coding
		text   string
		offset int
		r      rune
		is     error
		msg    string
	}{
		{"ascii chinese", ASCII, "ab中", 2, '中', ErrNotRepresentable, "smstext: ascii: rune '中' (U+4E2D) at offset 2 not representable"},
		{"gsm7 chinese", GSM7, "Hi 你", 3, '你', ErrNotRepresentable, "smstext: gsm7: rune '你' (U+4F60) at offset 3 not representable"},
		{"gsm7 backtick", GSM7, "a`", 1, '`', ErrNotRepresentable, ""},
		{"gsm7 lower c cedilla", GSM7, "ç", 0, 'ç', ErrNotRepresentable, ""},
		{"latin1 euro", Latin1, "5€", 1, '€', ErrNotRepresentable, "smstext: latin1: rune '€' (U+20AC) at offset 1 not representable"},
		{"gbk emoji", GBK, "好😀", 3, '😀', ErrNotRepresentable, "smstext: gbk: rune '😀' (U+1F600) at offset 3 not representable"},
		{"ucs2 invalid utf8", UCS2, "ab\xffc", 2, 0xFFFD, ErrInvalidUTF8, "smstext: ucs2: invalid UTF-8 at offset 2"},
		{"gsm7 invalid utf8", GSM7, "\xc3", 0, 0xFFFD, ErrInvalidUTF8, ""},
		{"latin1 invalid utf8", Latin1, "a\xe4\xb8", 1, 0xFFFD, ErrInvalidUTF8, ""},
		{"gbk invalid utf8", GBK, "中\xe4", 3, 0xFFFD, ErrInvalidUTF8, ""},
		{"ascii invalid utf8", ASCII, "\x80", 0, 0xFFFD, ErrInvalidUTF8, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := AppendEncode(dst, tt.c, tt.text)
			var ee *EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("err = %v, want *EncodeError", err)
			}
			if !errors.Is(err, tt.is) || ee.Offset != tt.offset || ee.Rune != tt.r || ee.Coding != tt.c {
				t.Fatalf("err = %#v", ee)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Fatalf("message = %q, want %q", err.Error(), tt.msg)
			}
			if string(got) != "keep" {
				t.Fatalf("dst = %q after error, want it untouched", got)
			}
		})
	}
	if _, err := Encode(Coding(0), "x"); !errors.Is(err, ErrUnknownCoding) {
		t.Fatalf("zero coding: err = %v", err)
	}
	if _, err := Decode(Coding(42), []byte("x")); !errors.Is(err, ErrUnknownCoding) {
		t.Fatalf("coding 42: err = %v", err)
	}
	if _, err := Decode(Coding(0), nil); !errors.Is(err, ErrUnknownCoding) {
		t.Fatalf("zero coding, empty input: err = %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		c      Coding
		in     string
		offset int
		msg    string
	}{
		{"ascii high bit", ASCII, "41 42 c8", 2, "smstext: ascii: octet 0xC8 is not ASCII at offset 2"},
		{"ucs2 odd", UCS2, "4f60 59", 2, "smstext: ucs2: odd length 3 at offset 2"},
		{"ucs2 lone high", UCS2, "0061 d83d 0062", 2, "smstext: ucs2: unpaired high surrogate 0xD83D at offset 2"},
		{"ucs2 high at end", UCS2, "d83d", 0, ""},
		{"ucs2 lone low", UCS2, "de00 0061", 0, "smstext: ucs2: unpaired low surrogate 0xDE00 at offset 0"},
		{"gsm7 high octet", GSM7, "41 80", 1, "smstext: gsm7: octet 0x80 is not a septet at offset 1"},
		{"gsm7 trailing escape", GSM7, "41 1b", 1, "smstext: gsm7: escape 0x1B without a following septet at offset 1"},
		{"gsm7 double escape", GSM7, "1b 1b 41", 1, ""},
		{"gbk truncated", GBK, "c4e3 ba", 2, "smstext: gbk: invalid GB18030 sequence starting 0xBA at offset 2"},
		{"gbk bad trail", GBK, "41 c4 20", 1, ""},
		{"gbk 0xff", GBK, "ff", 0, ""},
		{"gbk bad four-byte", GBK, "c4e3 81 30 ff 30", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := AppendDecode(dst, tt.c, unhex(t, tt.in))
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want *DecodeError", err)
			}
			if de.Offset != tt.offset || de.Coding != tt.c {
				t.Fatalf("err = %#v", de)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Fatalf("message = %q, want %q", err.Error(), tt.msg)
			}
			if string(got) != "keep" {
				t.Fatalf("dst = %q after error", got)
			}
		})
	}
}

func TestDecodeLenient(t *testing.T) {
	tests := []struct {
		name string
		c    Coding
		in   string
		want string
	}{
		// 03.38: an undefined extension code shows the basic character.
		{"gsm7 unknown extension", GSM7, "1b 41 1b 65", "A€"},
		{"gb18030 four-byte emoji", GBK, "9439fc36", "😀"},
		{"gb18030 replacement char", GBK, "8431a437", "\uFFFD"},
		{"gbk euro 0x80", GBK, "80", "€"},
		{"latin1 all bytes", Latin1, "80 a0 ff", "\u0080\u00a0ÿ"},
		{"binary non-utf8", Binary, "ff fe", "\xff\xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.c, unhex(t, tt.in))
			if err != nil || got != tt.want {
				t.Fatalf("Decode = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestGBKRoundTripsChinese(t *testing.T) {
	s := "短信网关联邦系统：北京、广州，计费与路由。ABC123"
	b, err := Encode(GBK, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 2*21+6 {
		t.Fatalf("GBK length %d, want %d", len(b), 2*21+6)
	}
	got, err := Decode(GBK, b)
	if err != nil || got != s {
		t.Fatalf("Decode = %q, %v", got, err)
	}
	// Via UCS2 and back.
	u, err := Transcode(b, GBK, UCS2)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Transcode(u, UCS2, GBK)
	if err != nil || !bytes.Equal(back, b) {
		t.Fatalf("Transcode round trip = %x, %v", back, err)
	}
}

func TestTranscode(t *testing.T) {
	g, _ := Encode(GSM7, "Hi @ home {ok}")
	got, err := Transcode(g, GSM7, ASCII)
	if err != nil || string(got) != "Hi @ home {ok}" {
		t.Fatalf("gsm7→ascii = %q, %v", got, err)
	}
	if _, err := Transcode([]byte("中"), Binary, GSM7); !errors.Is(err, ErrNotRepresentable) {
		t.Fatalf("binary utf-8 → gsm7: err = %v", err)
	}
	same, err := Transcode(g, GSM7, GSM7)
	if err != nil || !bytes.Equal(same, g) || &same[0] == &g[0] {
		t.Fatalf("same coding must copy")
	}
}

func TestChoose(t *testing.T) {
	tests := []struct {
		name   string
		s      string
		prefer []Coding
		want   Coding
	}{
		{"plain ascii", "Hello", nil, GSM7},
		{"gsm7 extension", "Cost 5€", nil, GSM7},
		{"empty", "", nil, GSM7},
		{"chinese", "你好", nil, UCS2},
		{"emoji", "hi 😀", nil, UCS2},
		{"backtick", "a`b", nil, UCS2},
		{"cmpp ascii", "Hello", []Coding{ASCII}, ASCII},
		{"cmpp ascii fails", "你好", []Coding{ASCII}, UCS2},
		{"gbk only if asked", "你好", []Coding{ASCII, GBK}, GBK},
		{"gbk mixed cheaper", "OK 你好 123", []Coding{GBK}, GBK},
		{"gbk emoji falls back", "你好😀", []Coding{GBK}, UCS2},
		{"ucs2 first wins tie", "你好", []Coding{UCS2, GBK}, UCS2},
		{"gsm7 cheaper than ascii", "Hello", []Coding{ASCII, GSM7}, GSM7},
		{"ascii cheaper than escapes", "{{{{}}}}", []Coding{GSM7, ASCII}, ASCII},
		{"latin1", "café", []Coding{Latin1}, Latin1},
		{"binary never", "abc", []Coding{Binary}, UCS2},
		{"invalid utf8", "a\xff", nil, UCS2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Choose(tt.s, tt.prefer...); got != tt.want {
				t.Fatalf("Choose(%q, %v) = %v, want %v", tt.s, tt.prefer, got, tt.want)
			}
		})
	}
}

// Hot paths must not allocate once the caller's buffer is large enough.
func TestAppendZeroAlloc(t *testing.T) {
	zh := strings.Repeat("短信网关", 17) + "联邦"
	buf := make([]byte, 0, 1024)
	for _, tt := range []struct {
		c Coding
		s string
	}{{UCS2, zh}, {GBK, zh}, {GSM7, "Hello {world} €5 @home"}, {ASCII, "hello"}, {Latin1, "café"}} {
		enc, err := Encode(tt.c, tt.s)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(200, func() { _, _ = AppendEncode(buf[:0], tt.c, tt.s) }); n != 0 {
			t.Errorf("AppendEncode %v: allocs = %v, want 0", tt.c, n)
		}
		if n := testing.AllocsPerRun(200, func() { _, _ = AppendDecode(buf[:0], tt.c, enc) }); n != 0 {
			t.Errorf("AppendDecode %v: allocs = %v, want 0", tt.c, n)
		}
	}
}

// smstext is a leaf: the standard library and golang.org/x/text only.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/tandem-sms/tandem/smstext" && !strings.HasPrefix(p, "golang.org/x/text/") {
			t.Errorf("forbidden dependency %s", p)
		}
	}
}

// Every rune Encode accepts must come back from Decode, for every coding.
func TestEveryBMPRuneRoundTrips(t *testing.T) {
	var buf, out []byte
	for _, c := range []Coding{ASCII, GSM7, Latin1, UCS2, GBK} {
		n := 0
		for r := rune(0); r < 0x10000; r++ {
			if r >= 0xD800 && r < 0xE000 {
				continue
			}
			var err error
			s := string(r)
			if buf, err = AppendEncode(buf[:0], c, s); err != nil {
				continue
			}
			n++
			if out, err = AppendDecode(out[:0], c, buf); err != nil || string(out) != s {
				t.Fatalf("%v: %q → %x → %q, %v", c, r, buf, out, err)
			}
		}
		t.Logf("%v: %d BMP runes", c, n)
	}
}
