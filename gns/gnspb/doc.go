// Package gnspb holds the GNS gRPC API: gns.proto, the code protoc
// generates from it (gns.pb.go, gns_grpc.pb.go; regenerate with `make
// proto`), and hand-written conversions between its messages and the
// routing package's types (convert.go) plus the leader hint carried by
// Unavailable errors (hint.go). gnsctl and, later, the ISMG route cache are
// its clients.
package gnspb
