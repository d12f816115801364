package ismg

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// listen binds the node's listeners (New calls it, so the addresses are
// known before Run): the SP port, its TLS twin, the HTTP port (/metrics,
// /healthz) and, when asked for, the loopback-only profiling port.
func (n *Node) listen(sp net.Listener) error {
	var err error
	if n.cmppLn = sp; sp == nil {
		if n.cmppLn, err = net.Listen("tcp", n.cfg.Listen.CMPP); err != nil {
			return fmt.Errorf("ismg: listen.cmpp: %w", err)
		}
	}
	if n.cfg.Listen.CMPPTLS != "" {
		tc, err := n.cfg.Listen.TLS.load()
		if err != nil {
			return fmt.Errorf("ismg: listen.tls: %w", err)
		}
		ln, err := net.Listen("tcp", n.cfg.Listen.CMPPTLS)
		if err != nil {
			return fmt.Errorf("ismg: listen.cmpp_tls: %w", err)
		}
		n.cmppTLS = tls.NewListener(ln, tc)
	}
	// Go's HTTP servers log through slog like the rest of the node.
	errLog := slog.NewLogLogger(n.log.With("component", "http").Handler(), slog.LevelWarn)
	if n.cfg.Listen.HTTP != "" {
		if n.httpLn, err = net.Listen("tcp", n.cfg.Listen.HTTP); err != nil {
			return fmt.Errorf("ismg: listen.http: %w", err)
		}
		mux := http.NewServeMux()
		if n.gather != nil {
			mux.Handle("/metrics", promhttp.HandlerFor(n.gather, promhttp.HandlerOpts{ErrorLog: errLog}))
		}
		mux.HandleFunc("/healthz", n.serveHealth)
		n.consoleRoutes(mux)
		n.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	}
	if n.cfg.Listen.PProf != "" {
		if n.pprofLn, err = net.Listen("tcp", n.cfg.Listen.PProf); err != nil {
			return fmt.Errorf("ismg: listen.pprof: %w", err)
		}
		// Profiles of the live process, on their own mux (the pprof
		// import also fills http.DefaultServeMux, which nothing serves).
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		n.pprofSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	}
	return nil
}

// CMPPTLSAddr is the address of the TLS SP port, or "" when there is none.
func (n *Node) CMPPTLSAddr() string {
	if n.cmppTLS == nil {
		return ""
	}
	return n.cmppTLS.Addr().String()
}

// PProfAddr is the profiling address, or "" when profiling is off.
func (n *Node) PProfAddr() string {
	if n.pprofLn == nil {
		return ""
	}
	return n.pprofLn.Addr().String()
}
