// Package routing holds Tandem's routing tables: gateways (ISMGs), MSISDN
// number segments, ported numbers and SPs with their service codes and
// partitions, and answers the two questions every message asks:
//
//   - MT: which gateway is the home of this destination number?
//     (*Table).ResolveMT: an exact ported entry, else the longest matching
//     segment prefix.
//   - MO: which gateway delivers to the SP owning this service code, for a
//     user of the asking gateway's region? (*Table).ResolveMO: the SP with
//     the longest matching service code, then the SP partition that lists
//     the asking gateway's region, else the SP's default gateway.
//
// The package is pure data: it imports only the standard library and
// go.yaml.in/yaml/v3, and does I/O only on the readers and writers (and table
// files) it is handed.
//
// # Versions and concurrency
//
// A *Table is immutable. Its Revision is the Raft index that produced it.
// (*Table).Apply returns a new table and leaves the receiver untouched, so
// a node publishes tables through an atomic.Pointer[Table] and lookups take
// no lock and never see half a batch. Tables share structure: segments live
// in a persistent digit trie whose first six levels are flat arrays (see
// mtrie.go for why ResolveMT wants that shape), route ids in persistent
// radix arrays and ported numbers in a persistent linear hash table behind
// a small Bloom filter; an update copies only the nodes on its path. A
// Builder batches many edits, writing in place into nodes it has already
// copied, then Table publishes the result.
//
// Route ids (CMPP GNS Route_Id) are assigned by the table, from 0, separately
// for MT routes (one per segment) and MO routes (one per service code). They
// are stable across updates of the same prefix or code, never reused after a
// delete, and kept by a whole-table replace for prefixes and codes that stay.
//
// # Encodings
//
// EncodeChanges/DecodeChanges carry a batch of Changes in a Raft log entry;
// WriteSnapshot/ReadSnapshot carry a whole table in a Raft snapshot. Both
// are versioned by their first byte(s), deterministic, and checked on read.
//
// # Table files
//
// People edit YAML; bulk segment and ported-number lists may live in CSV
// files the YAML names, relative to its own directory. Codes and prefixes
// should be quoted, but unquoted ones keep their leading zeros because the
// loader reads the text as written.
//
//	version: 1                  # required
//	revision: 42                # optional, ignored: what an export was taken at
//	gateways:
//	  - code: "001001"          # ISMG_Id, 6 digits, unique
//	    name: Beijing
//	    region: beijing         # SP partitions list regions
//	    fwd_addr: 127.0.0.1:7931  # host:port peers dial for CMPP_FWD
//	    province: "010"         # optional area code
//	segments:
//	  - prefix: "1380010"       # 3 to 11 digits, unique; longest match wins
//	    gateway: "001001"       # home gateway
//	    smsc: north             # optional SMSC link at the home gateway
//	    area_code: "010"        # optional, CMPP Area_code
//	    user_type: 0            # optional, CMPP User_type
//	segment_files: [segments.csv]  # header: prefix,gateway[,smsc,area_code,user_type]
//	ported:
//	  - msisdn: "13800100099"   # 11 digits, beats every segment
//	    gateway: "020001"
//	ported_files: [ported.csv]  # header: msisdn,gateway
//	sps:
//	  - id: "901234"            # SP_Id, 6 digits, unique
//	    name: Sina
//	    service_codes: ["10657001"]  # 4 to 21 digits; each owned by one SP
//	    gateway: "001001"       # primary access gateway
//	    mirrors: ["020001"]     # optional mirror access gateways
//	    default_gateway: "001001"  # optional, defaults to gateway
//	    partitions:             # optional; a region may appear once per SP
//	      - name: north
//	        regions: [beijing, tianjin, hebei]
//	        gateway: "001001"
//	    account:                # optional: the SP's login on every gateway named above
//	      secret: s3cret        # CMPP secret; empty keeps the one the GNS has
//	      allowed_ips: [10.0.0.0/8, 192.0.2.7]  # CIDRs or addresses; empty allows none
//	      max_connections: 4    # per gateway; 0 takes the gateway's default
//	      window: 16            # unanswered SUBMITs per connection; 0: default
//	      submit_rate: 1000     # SUBMITs per second per gateway; 0: default
//	      burst: 100            # token bucket; 0: default
//
// CSV files may hold '#' comment lines. An 11-digit segment and a ported
// entry for the same number are refused as ambiguous.
//
// Loading reports every problem at once as a *ValidationError, one
// "file:line: field: message" per line, for example:
//
//	routes.yaml:42: segments[3].gateway: unknown gateway "009999"
//	segments.csv:7: prefix: bad digits: "13x0010" has a non-digit
//
// A JSON document with the same keys loads too (JSON is YAML), so the
// JSON that gnsctl table export -o json writes pushes back unchanged.
//
// Export writes the same format back (ExportSegmentsCSV and
// ExportPortedCSV write the CSV parts).
package routing
