// Package api holds the resource types and error codes that Berth's service layer, its Go
// client and its CLI share. It imports only the standard library and knows nothing of the
// Gandi wire format: internal/gandi maps these types to and from XML-RPC structs.
package api
