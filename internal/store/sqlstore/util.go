package sqlstore

import (
	"fmt"
	"strings"
	"time"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// bytesCol scans TEXT or BLOB into a byte slice.
type bytesCol []byte

func (b *bytesCol) Scan(src any) error {
	switch x := src.(type) {
	case string:
		*b = []byte(x)
	case []byte:
		*b = append([]byte(nil), x...)
	case nil:
		*b = nil
	default:
		return fmt.Errorf("bytesCol: unexpected %T", src)
	}
	return nil
}

func unixPtr(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return unix(*t)
}

type unixPtrScan struct{ t **time.Time }

func (u unixPtrScan) Scan(src any) error {
	var t time.Time
	if err := (unixTime{&t}).Scan(src); err != nil {
		return err
	}
	if t.IsZero() {
		*u.t = nil
	} else {
		*u.t = &t
	}
	return nil
}
