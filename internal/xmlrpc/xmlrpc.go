// Package xmlrpc is Berth's XML-RPC codec and HTTP handler.
//
// It is written on encoding/xml and tuned for the clients of the Gandi Hosting
// API: Python xmlrpc.client (allow_none, use_datetime), kolo/xmlrpc, libcloud
// and Perl XMLRPC::Lite.
//
// Decoded values use a small set of Go types:
//
//	<nil/>, <ex:nil/>                      nil
//	<boolean>                              bool
//	<int>, <i1>, <i2>, <i4>, <i8>          int64
//	<double>                               float64
//	<string>, untyped <value>text</value>  string (<value/> is "")
//	<dateTime.iso8601>                     time.Time (UTC, whole seconds)
//	<base64>                               []byte
//	<array>                                []any
//	<struct>                               map[string]any
//
// The encoder accepts those types plus every Go integer and float kind, named
// scalar types, pointers, typed slices and arrays, maps with string keys and
// [Members] (a struct with an explicit member order). nil and nil pointers
// are written <nil/>; a nil slice or map of a concrete type is written as an
// empty array or struct, so that a list method with no results still returns
// an array. Integers inside the int32
// range are written as <int>, others as <i8>; doubles always carry a decimal
// point (102400 is written 102400.0); times are written YYYYMMDDTHH:MM:SS in
// UTC; map members are sorted by name so that output is deterministic.
package xmlrpc

import (
	"errors"
	"fmt"
)

// Standard fault codes used by the server.
const (
	// CodeParse is the fault code of a request that cannot be decoded.
	CodeParse = -32700
	// CodeInvalidRequest is the fault code of a well-formed but invalid request
	// (for example a malformed system.multicall entry).
	CodeInvalidRequest = -32600
	// CodeInvalidParams is the fault code of a call with wrong parameters.
	CodeInvalidParams = -32602
	// CodeInternal is the fault code of an unexpected server-side error.
	CodeInternal = -32500
	// CodeUnknownMethod is the fault code Gandi returns for an unknown method.
	CodeUnknownMethod = 1
)

// Default decoding limits.
const (
	// DefaultMaxBytes is the default limit on the size of a request body.
	DefaultMaxBytes = 4 << 20
	// DefaultMaxDepth is the default limit on the nesting of arrays and structs.
	DefaultMaxDepth = 64
	// DefaultMaxElements is the default limit on the number of XML elements.
	DefaultMaxElements = 100000
)

// Sentinel errors returned (wrapped) by the decoders.
var (
	// ErrMalformed reports a document that is not valid XML-RPC.
	ErrMalformed = errors.New("malformed xml-rpc")
	// ErrTooLarge reports a document longer than Limits.MaxBytes.
	ErrTooLarge = errors.New("document too large")
	// ErrTooDeep reports arrays and structs nested deeper than Limits.MaxDepth.
	ErrTooDeep = errors.New("values nested too deep")
	// ErrTooManyElements reports a document with more than Limits.MaxElements elements.
	ErrTooManyElements = errors.New("too many xml elements")
	// ErrDTD reports a document carrying a DTD, entity declaration or other directive.
	ErrDTD = errors.New("dtd and entity declarations are not allowed")
	// ErrUnsupportedType reports a Go value the encoder cannot represent.
	ErrUnsupportedType = errors.New("unsupported type")
	// ErrPanic is wrapped by the error a Server hands to Options.MapError when a
	// method panics.
	ErrPanic = errors.New("method panicked")
)

// Limits bounds the resources a decoder may spend on one document.
// A zero field means the default; a negative field means no limit.
type Limits struct {
	// MaxBytes is the largest accepted document, in bytes (default 4 MiB).
	MaxBytes int64
	// MaxDepth is the deepest accepted nesting of arrays and structs (default 64).
	MaxDepth int
	// MaxElements is the largest accepted number of XML elements (default 100000).
	MaxElements int
}

// withDefaults returns l with zero fields replaced by the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxBytes == 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxElements == 0 {
		l.MaxElements = DefaultMaxElements
	}
	return l
}

// Fault is an XML-RPC fault: the error half of a methodResponse.
type Fault struct {
	// Code is the faultCode member, always encoded as <int>.
	Code int
	// String is the faultString member.
	String string
}

// Error implements error.
func (f Fault) Error() string {
	return fmt.Sprintf("fault %d: %s", f.Code, f.String)
}

// Member is one member of a Members struct.
type Member struct {
	// Name is the member name.
	Name string
	// Value is the member value; any encodable value.
	Value any
}

// Members is a struct whose members are encoded in the given order (a map is
// encoded with its members sorted by name). Decoding always yields a map.
type Members []Member
