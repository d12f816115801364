// Package adminpb holds the ISMG admin gRPC API: admin.proto and the code
// protoc generates from it (admin.pb.go, admin_grpc.pb.go; regenerate with
// `make proto`). The ISMG serves it on listen.admin (ismg/adminserver.go);
// cmd/ismgctl is its client.
package adminpb
