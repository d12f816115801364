package smstext

import (
	"strings"
	"testing"
	"time"
)

// 70 Chinese characters: exactly one UCS2 message.
var bench70 = strings.Repeat("短信网关联邦系统测试", 7)

func benchEncode(b *testing.B, c Coding) {
	b.ReportAllocs()
	b.SetBytes(int64(len(bench70)))
	for b.Loop() {
		if _, err := Encode(c, bench70); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAppendEncode(b *testing.B, c Coding) {
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(bench70)))
	for b.Loop() {
		if _, err := AppendEncode(buf[:0], c, bench70); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, c Coding) {
	enc, err := Encode(c, bench70)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := Decode(c, enc); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAppendDecode(b *testing.B, c Coding) {
	enc, err := Encode(c, bench70)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := AppendDecode(buf[:0], c, enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeUCS2(b *testing.B)       { benchEncode(b, UCS2) }
func BenchmarkEncodeGBK(b *testing.B)        { benchEncode(b, GBK) }
func BenchmarkAppendEncodeUCS2(b *testing.B) { benchAppendEncode(b, UCS2) }
func BenchmarkAppendEncodeGBK(b *testing.B)  { benchAppendEncode(b, GBK) }
func BenchmarkDecodeUCS2(b *testing.B)       { benchDecode(b, UCS2) }
func BenchmarkDecodeGBK(b *testing.B)        { benchDecode(b, GBK) }
func BenchmarkAppendDecodeUCS2(b *testing.B) { benchAppendDecode(b, UCS2) }
func BenchmarkAppendDecodeGBK(b *testing.B)  { benchAppendDecode(b, GBK) }

func BenchmarkEncodeGSM7(b *testing.B) {
	s := strings.Repeat("Hello {world} ", 11)[:153]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(GSM7, s); err != nil {
			b.Fatal(err)
		}
	}
}

// 300 characters of Chinese text, already UCS2-encoded: 5 segments.
func BenchmarkSplit300(b *testing.B) {
	p, err := Encode(UCS2, strings.Repeat("短信网关联邦系统测试", 30))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := Split(p, UCS2, SplitOptions{Ref: 42}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplit300GSM7(b *testing.B) {
	p, err := Encode(GSM7, strings.Repeat("Hello {w} ", 30))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Split(p, GSM7, SplitOptions{Ref: 42}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChooseChinese(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Choose(bench70, ASCII, GBK)
	}
}

func BenchmarkReassemble5(b *testing.B) {
	p, _ := Encode(UCS2, strings.Repeat("短信网关联邦系统测试", 30))
	segs, err := Split(p, UCS2, SplitOptions{Ref: 42})
	if err != nil {
		b.Fatal(err)
	}
	r, err := NewReassembler(DefaultReassemblerConfig())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(0, 0)
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range segs {
			if _, _, err := r.Add("src|dst|42|5", s, now); err != nil {
				b.Fatal(err)
			}
		}
	}
}
