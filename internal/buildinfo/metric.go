package buildinfo

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register adds tandem_build_info{binary,version,revision,goversion} 1 to
// reg: the usual info-metric shape, so a query can join it onto any other
// series of the same instance.
func Register(reg prometheus.Registerer, binary string) error {
	in := Read()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tandem_build_info",
		Help: "Always 1; the labels say which build of which Tandem binary runs here.",
		ConstLabels: prometheus.Labels{
			"binary":    binary,
			"version":   in.Version,
			"revision":  in.ShortRevision(),
			"goversion": in.GoVersion,
		},
	})
	g.Set(1)
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("buildinfo: register tandem_build_info: %w", err)
	}
	return nil
}
