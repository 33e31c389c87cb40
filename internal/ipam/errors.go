package ipam

import (
	"errors"
	"fmt"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrExhausted means a pool has no free allocatable address left.
	ErrExhausted = errors.New("address pool exhausted")
	// ErrInUse means a requested address is already allocated.
	ErrInUse = errors.New("address in use")
	// ErrOutOfPool means a requested address lies outside the pool's prefix or ranges.
	ErrOutOfPool = errors.New("address out of pool")
	// ErrReserved means a requested address is the network, broadcast, gateway or a reserved address.
	ErrReserved = errors.New("address reserved")
	// ErrInvalid marks every input validation error (bad prefix, gateway, name, index, ...).
	ErrInvalid = errors.New("invalid input")
)

// invalidError is an input validation error: its message reads naturally while
// errors.Is(err, ErrInvalid) still holds.
type invalidError struct{ err error }

func (e *invalidError) Error() string        { return e.err.Error() }
func (e *invalidError) Unwrap() error        { return e.err }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// invalidf formats a validation error; %w verbs wrap causes as with fmt.Errorf.
func invalidf(format string, args ...any) error {
	return &invalidError{err: fmt.Errorf(format, args...)}
}
