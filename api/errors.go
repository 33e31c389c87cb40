package api

import (
	"errors"
	"fmt"
)

// Code is the small, stable enum of error kinds the service layer returns.
type Code int

// Error codes. Transports map them to their own wire codes (Gandi faultCodes).
const (
	Internal    Code = iota // a bug or an unexpected failure; details go to the log
	NotFound                // the object does not exist or belongs to another account
	Invalid                 // a parameter has the wrong type, syntax or value
	Conflict                // the object's state forbids the request
	Attached                // the disk is attached to a VM
	NoRight                 // the API key is unknown
	NoCredit                // the account has no credits left
	Unavailable             // a capacity or backend limit stops the request
	BadKey                  // the API key is malformed
	NoAccess                // the account has no API access
)

// Object names the kind of object an error is about.
type Object string

// Objects an error can be about.
const (
	ObjUnknown    Object = "unknown"
	ObjAccount    Object = "account"
	ObjHosting    Object = "hosting_account"
	ObjVM         Object = "vm"
	ObjIface      Object = "iface"
	ObjIP         Object = "ip"
	ObjDisk       Object = "disk"
	ObjVLAN       Object = "vlan"
	ObjSSHKey     Object = "sshkey"
	ObjImage      Object = "image"
	ObjDatacenter Object = "datacenter"
	ObjOperation  Object = "operation"
	ObjString     Object = "string"
	ObjAPIKey     Object = "apikey"
	ObjCoupon     Object = "coupon"
	ObjTrial      Object = "trial"
	// ObjSnapshotProfile is a snapshot profile.
	ObjSnapshotProfile Object = "snapshot_profile"
	// ObjMetric is a metric query (hosting.metric.query).
	ObjMetric Object = "metric"
)

// Error is the error type every service method returns.
type Error struct {
	Code    Code
	Object  Object
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Object, e.Message) }

// Errorf builds an *Error.
func Errorf(code Code, obj Object, format string, args ...any) *Error {
	return &Error{Code: code, Object: obj, Message: fmt.Sprintf(format, args...)}
}

// NotFoundErr is the error for a missing object (or one of another account).
func NotFoundErr(obj Object, id int64) *Error {
	return Errorf(NotFound, obj, "%s %d not found", obj, id)
}

// AsError returns err as an *Error, or nil when it is not one.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code Code) bool {
	e := AsError(err)
	return e != nil && e.Code == code
}
