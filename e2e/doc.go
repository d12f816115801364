// Package e2e holds the end-to-end tests of the federation: real gns and
// ismg processes (built from cmd/ once per test run), real SMSC simulators
// and SP clients, on loopback. They check what no single package can: a
// route change in the GNS reaching every gateway's cache and changing
// where new messages go, gateways routing from their caches (and from the
// table they persisted) while every GNS node is down, and a receiving
// gateway killed with SIGKILL in the middle of a forwarded load losing
// nothing it acknowledged. The package has no non-test code.
package e2e
