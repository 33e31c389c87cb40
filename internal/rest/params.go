package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
)

// syntaxError is a body that is not JSON: 400 json_error, with the bad-parameter fault.
type syntaxError struct{ e *api.Error }

func (s *syntaxError) Error() string { return s.e.Error() }
func (s *syntaxError) Unwrap() error { return s.e }

// decode reads the JSON body into v; unknown members are refused.
func decode(cl *call, obj api.Object, v any) error {
	body := bytes.TrimSpace(cl.body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	err := d.Decode(v)
	if err == nil && d.Decode(new(any)) != io.EOF {
		err = errors.New("trailing data after the JSON value")
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return api.Errorf(api.Invalid, obj, "%s must be a %s", te.Field, jsonType(te.Type.Kind().String()))
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return &syntaxError{api.Errorf(api.Invalid, obj, "request body is not JSON: %v", err)}
	}
	return api.Errorf(api.Invalid, obj, "request body: %v", err)
}

func jsonType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "slice":
		return "list"
	case kind == "struct", kind == "map", kind == "ptr":
		return "object"
	}
	return kind
}

// Pagination of /v1 lists (pages count from 1, as Hetzner's).
const (
	defaultPerPage = 50
)

// intFields are the filter fields whose values are integers.
func intField(f string) bool {
	return f == "id" || strings.HasSuffix(f, "_id") || f == "version" || f == "memory" || f == "cores" || f == "size" || f == "num"
}

// listOptions reads page, per_page, sort=field[:asc|:desc] and filters: field=value
// (repeated: any of the values), ~field=pattern (SQL LIKE, % and _).
func listOptions(cl *call, obj api.Object) (api.ListOptions, error) {
	o := api.ListOptions{PerPage: defaultPerPage}
	for k, vals := range cl.r.URL.Query() {
		switch k {
		case "page", "per_page":
			n, err := strconv.ParseInt(vals[0], 10, 64)
			switch {
			case err != nil:
				return o, api.Errorf(api.Invalid, obj, "%s must be an integer", k)
			case k == "page" && n < 1:
				return o, api.Errorf(api.Invalid, obj, "page %d is not 1 or more", n)
			case k == "per_page" && (n < 1 || n > api.MaxPerPage):
				return o, api.Errorf(api.Invalid, obj, "per_page %d is not between 1 and %d", n, api.MaxPerPage)
			case k == "page":
				o.Page = n - 1
			default:
				o.PerPage = n
			}
		case "sort":
			f, dir, _ := strings.Cut(vals[0], ":")
			if f == "" || (dir != "" && dir != "asc" && dir != "desc") {
				return o, api.Errorf(api.Invalid, obj, "sort %q: want field, field:asc or field:desc", truncate(vals[0], 40))
			}
			o.SortBy, o.SortDesc = f, dir == "desc"
		default:
			field, op := k, api.OpEq
			if strings.HasPrefix(k, "~") {
				field, op = k[1:], api.OpLike
			}
			if len(vals) > 1 {
				if op == api.OpLike {
					return o, api.Errorf(api.Invalid, obj, "%s takes one pattern", k)
				}
				op = api.OpIn
			}
			var xs []any
			for _, v := range vals {
				if intField(field) && op != api.OpLike {
					n, err := strconv.ParseInt(v, 10, 64)
					if err != nil {
						return o, api.Errorf(api.Invalid, obj, "filter %s: %q is not an integer", field, truncate(v, 40))
					}
					xs = append(xs, n)
				} else {
					xs = append(xs, v)
				}
			}
			o.Filters = append(o.Filters, api.Filter{Field: field, Op: op, Values: xs})
		}
	}
	return o, nil
}

func meta(o api.ListOptions, total int64) metaJSON {
	p := paginationJSON{Page: o.Page + 1, PerPage: o.PerPage, TotalEntries: total, LastPage: max(1, (total+o.PerPage-1)/o.PerPage)}
	if p.Page > 1 {
		prev := p.Page - 1
		p.PreviousPage = &prev
	}
	if p.Page < p.LastPage {
		next := p.Page + 1
		p.NextPage = &next
	}
	return metaJSON{p}
}

// pagedList is the shape of every list of account objects: {"<name>": […], "meta": …}.
func pagedList[T, J any](name string, obj api.Object, list func(context.Context, *service.Caller, api.ListOptions) ([]T, error),
	count func(context.Context, *service.Caller, api.ListOptions) (int64, error), shape func(T) J) func(*call) (any, error) {
	return func(cl *call) (any, error) {
		o, err := listOptions(cl, obj)
		if err != nil {
			return nil, err
		}
		items, err := list(cl.ctx, cl.c, o)
		if err != nil {
			return nil, err
		}
		total, err := count(cl.ctx, cl.c, o)
		if err != nil {
			return nil, err
		}
		out := make([]J, len(items))
		for i, x := range items {
			out[i] = shape(x)
		}
		return map[string]any{name: out, "meta": meta(o, total)}, nil
	}
}

// localList pages a small catalog (datacenters, images) read whole.
func localList[T, J any](name string, obj api.Object, all func(context.Context, api.ListOptions) ([]T, error), shape func(T) J) func(*call) (any, error) {
	return func(cl *call) (any, error) {
		o, err := listOptions(cl, obj)
		if err != nil {
			return nil, err
		}
		whole := o
		whole.Page, whole.PerPage = 0, api.MaxPerPage
		items, err := all(cl.ctx, whole)
		if err != nil {
			return nil, err
		}
		start := min(o.Page*o.PerPage, int64(len(items)))
		page := items[start:min(start+o.PerPage, int64(len(items)))]
		out := make([]J, len(page))
		for i, x := range page {
			out[i] = shape(x)
		}
		return map[string]any{name: out, "meta": meta(o, int64(len(items)))}, nil
	}
}

// one wraps a single object as {"<name>": …}.
func one[T, J any](name string, get func(context.Context, *service.Caller, int64) (T, error), shape func(T) J) func(*call) (any, error) {
	return func(cl *call) (any, error) {
		v, err := get(cl.ctx, cl.c, cl.id)
		if err != nil {
			return nil, err
		}
		return map[string]any{name: shape(v)}, nil
	}
}

// opOf wraps a service call returning one operation.
func opOf(fn func(context.Context, *service.Caller, int64) (*api.Operation, error)) func(*call) (any, error) {
	return func(cl *call) (any, error) {
		op, err := fn(cl.ctx, cl.c, cl.id)
		if err != nil {
			return nil, err
		}
		return []api.Operation{*op}, nil
	}
}

func single(op *api.Operation, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return []api.Operation{*op}, nil
}

// need refuses a missing required member.
func need(obj api.Object, name string, ok bool) error {
	if !ok {
		return api.Errorf(api.Invalid, obj, "%s is required", name)
	}
	return nil
}

var _ = fmt.Sprint
