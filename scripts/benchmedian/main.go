// Command benchmedian prints the median of every metric of each benchmark in
// `go test -bench` output files, so BENCHMARKS.md can quote medians of
// several runs rather than one lucky run.
package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	type key struct{ bench, unit string }
	samples := map[key][]float64{}
	var order []key
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
				continue
			}
			// name iterations value unit value unit ...
			for i := 2; i+1 < len(fields); i += 2 {
				v, err := strconv.ParseFloat(fields[i], 64)
				if err != nil {
					break
				}
				k := key{fields[0], fields[i+1]}
				if _, seen := samples[k]; !seen {
					order = append(order, k)
				}
				samples[k] = append(samples[k], v)
			}
		}
		f.Close()
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tmedian\tunit\truns")
	for _, k := range order {
		s := samples[k]
		sort.Float64s(s)
		m := s[len(s)/2]
		if len(s)%2 == 0 {
			m = (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
		fmt.Fprintf(tw, "%s\t%.4g\t%s\t%d\n", k.bench, m, k.unit, len(s))
	}
	tw.Flush()
}
