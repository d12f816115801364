package main

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/tandem-sms/tandem/billing"
)

//go:embed report.html.tmpl
var reportHTML string

// pageTemplate is the -o html page: self-contained (inline CSS and SVG, no
// scripts, no external assets), well-formed XML so that tests can parse it
// with encoding/xml.
var pageTemplate = template.Must(template.New("report").Parse(reportHTML))

// Chart geometry, in SVG user units (pixels).
const (
	chartLeft   = 56  // room for the y labels
	chartTop    = 10  //
	chartPlot   = 200 // plot height
	chartBottom = 28  // room for the x labels
	chartRight  = 12
	barWidth    = 7
	groupGap    = 6                     // between hours
	groupWidth  = 3*barWidth + groupGap // per hour
	chartMinW   = 480
)

type page struct {
	Title, Period, ByText, Zone string
	Dirs                        []string
	Files                       int
	Total                       billing.TrafficRow
	P50, P99                    string
	Bars                        barChart
	Lines                       lineChart
	Head                        []string
	NKeys                       int
	Rows                        []pageRow
	Peers                       []billing.GatewayCount
	Notes                       []string
}

type pageRow struct {
	Cells []string
	Total bool
}

// frame is what both charts share: size, plot edges and axis labels.
type frame struct {
	Width, Height                        int
	Left, Right, Bottom, LabelX, XLabelY int
	YTicks, XLabels                      []tick
}

type tick struct {
	Pos   string
	Label string
}

type barChart struct {
	frame
	Bars []bar
}

type bar struct {
	Class, Name, Hour string
	X, Y, W, H        string
	Value             int64
}

type lineChart struct {
	frame
	P50, P99 string // polyline points
	Dots     []dot
}

type dot struct {
	Class, Hour, Label string
	X, Y               string
	Ms                 int64
}

// num prints a coordinate, to the hundredth.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) }

// newFrame lays out a chart of n hours.
func newFrame(hours []billing.TrafficRow) frame {
	n := len(hours)
	f := frame{Width: max(chartLeft+n*groupWidth+chartRight, chartMinW), Height: chartTop + chartPlot + chartBottom}
	f.Left, f.Right, f.Bottom = chartLeft, f.Width-chartRight, chartTop+chartPlot
	f.LabelX, f.XLabelY = chartLeft-6, f.Bottom+18
	every := max((n+11)/12, 1) // at most about 12 labels
	for i, h := range hours {
		if i%every != 0 {
			continue
		}
		label := h.Start().Format("15h")
		if i == 0 || h.Start().Hour() < every {
			label = h.Start().Format("01-02 15h")
		}
		f.XLabels = append(f.XLabels, tick{num(groupX(i) + 1.5*barWidth), label})
	}
	return f
}

func groupX(i int) float64 { return float64(chartLeft + groupGap/2 + i*groupWidth) }

// niceMax rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceMax(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// niceSeconds rounds a latency in seconds up to a round duration whose
// half is round too.
func niceSeconds(v float64) float64 {
	for _, s := range []float64{1, 2, 10, 20, 60, 120, 600, 1200, 3600, 7200, 21600, 43200, 86400} {
		if v <= s {
			return s
		}
	}
	return 86400 * niceMax(v/86400)
}

// yTicks are 0, half and the top of a scale to top (those label names).
func yTicks(top float64, label func(float64) string) []tick {
	var t []tick
	for _, v := range []float64{0, top / 2, top} {
		if l := label(v); l != "" {
			t = append(t, tick{num(yOf(v, top)), l})
		}
	}
	return t
}

func yOf(v, top float64) float64 { return float64(chartTop) + chartPlot*(1-v/top) }

func barsOf(hours []billing.TrafficRow) barChart {
	c := barChart{frame: newFrame(hours)}
	var most int64
	for _, h := range hours {
		most = max(most, h.Submitted, h.Delivered, h.Failed+h.Expired)
	}
	top := niceMax(float64(most))
	c.YTicks = yTicks(top, func(v float64) string {
		if v != math.Trunc(v) {
			return "" // counts are whole
		}
		return num(v)
	})
	for i, h := range hours {
		for j, s := range []struct {
			class, name string
			v           int64
		}{{"submitted", "submitted", h.Submitted}, {"delivered", "delivered", h.Delivered}, {"failed", "failed or expired", h.Failed + h.Expired}} {
			y := yOf(float64(s.v), top)
			c.Bars = append(c.Bars, bar{Class: s.class, Name: s.name, Hour: h.Hour, Value: s.v,
				X: num(groupX(i) + float64(j*barWidth)), Y: num(y), W: num(barWidth), H: num(float64(c.Bottom) - y)})
		}
	}
	return c
}

func linesOf(hours []billing.TrafficRow) lineChart {
	c := lineChart{frame: newFrame(hours)}
	var most int64
	for _, h := range hours {
		most = max(most, h.Latency.P99ms)
	}
	top := niceSeconds(float64(most) / 1000)
	c.YTicks = yTicks(top, func(v float64) string { return msText(int64(v * 1000)) })
	var p50, p99 []string
	for i, h := range hours {
		if h.Latency.Samples == 0 {
			continue
		}
		x := num(groupX(i) + 1.5*barWidth)
		for _, s := range []struct {
			class string
			ms    int64
			pts   *[]string
		}{{"dot50", h.Latency.P50ms, &p50}, {"dot99", h.Latency.P99ms, &p99}} {
			y := num(yOf(float64(s.ms)/1000, top))
			*s.pts = append(*s.pts, x+","+y)
			name := "p50"
			if s.class == "dot99" {
				name = "p99"
			}
			c.Dots = append(c.Dots, dot{Class: s.class, Hour: h.Hour, X: x, Y: y, Ms: s.ms,
				Label: fmt.Sprintf("%s %s (%d samples)", name, msText(s.ms), h.Latency.Samples)})
		}
	}
	c.P50, c.P99 = strings.Join(p50, " "), strings.Join(p99, " ")
	return c
}

func writeTrafficHTML(w io.Writer, c reportConfig, tr *billing.Traffic, info billing.DirInfo) error {
	p := page{Title: "Tandem CDR traffic report", Period: periodText(c), Zone: c.loc.String(), Dirs: c.dirs,
		Files: info.Files, Total: tr.Total, P50: "-", P99: "-", Bars: barsOf(tr.Hours), Lines: linesOf(tr.Hours)}
	if l := tr.Total.Latency; l.Samples > 0 {
		p.P50, p.P99 = msText(l.P50ms), msText(l.P99ms)
	}
	var by []string
	for _, d := range tr.By {
		by = append(by, d.String())
	}
	p.ByText = strings.Join(by, ", ")
	if p.ByText == "" {
		p.ByText = "nothing (total)"
	}
	cols := columnsOf(tr)
	p.Head, p.NKeys = cols.header(false), max(len(cols.keys), 1)
	if len(cols.keys) == 0 {
		p.Head = append([]string{""}, p.Head...)
	} else {
		for i := range tr.Rows {
			var keys []string
			for _, d := range cols.keys {
				keys = append(keys, keyOf(&tr.Rows[i], d))
			}
			p.Rows = append(p.Rows, pageRow{Cells: append(keys, cols.counts(&tr.Rows[i], false)...)})
		}
	}
	keys := make([]string, p.NKeys)
	keys[0] = "TOTAL"
	p.Rows = append(p.Rows, pageRow{Cells: append(keys, cols.counts(&tr.Total, false)...), Total: true})
	p.Peers = tr.Total.Peers
	for _, of := range info.Open {
		p.Notes = append(p.Notes, fmt.Sprintf("Open file read (being written, or left by a crash): %s, %d complete records.", of.Path, of.Records))
	}
	if info.Bad > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("%d records that did not parse were skipped (-skip-bad).", info.Bad))
	}
	return pageTemplate.Execute(w, p)
}
