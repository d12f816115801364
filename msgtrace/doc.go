// Package msgtrace answers "where is my message?" across the federation.
//
// Each ISMG answers for itself (GET /trace?msg_id=… on its HTTP port): a
// Hop, the steps its CDRs and its live queue store show for one Msg_Id,
// and the gateway the message went to next (NextGateway). Follow gathers a
// whole Trace from those answers: the Msg_Id's gateway code (protocols.md
// §1.7) says which gateway accepted it, and each Hop's NextGateway names
// the one to ask after it, until a gateway kept the message (it went to an
// SMSC there) or a gateway does not answer. Steps merges the hops'
// steps in the order a message lives them: out along the forward path,
// then the status report back along it.
//
// Fetching is the caller's: Client does it over HTTP (a node resolving
// gateway codes to its peers' HTTP addresses, or a CLI), a test can pass
// a function. The package is a leaf: the standard library only, so a CLI
// links it without the node.
package msgtrace
