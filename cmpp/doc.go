// Package cmpp implements CMPP 2.0/2.1/3.0 (China Mobile Peer to Peer): the
// codec for every PDU, including the inter-gateway CMPP_FWD and the GNS route
// PDUs, Msg_Id generation, and a session layer usable as client and server.
//
// It is a leaf package: it knows nothing about routing, storage or metrics.
package cmpp
