// Package ismg is the gateway node: the CMPP server SPs log in to, the
// durable message queue, the dispatcher, the SMSC links, status reports and
// billing. cmd/ismg wires it from a YAML file (LoadConfig).
package ismg
