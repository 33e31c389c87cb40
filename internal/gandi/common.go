package gandi

import (
	"context"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/service"
	"github.com/berth-io/berth/internal/xmlrpc"
)

// opts reads the optional opts struct at index i as list options.
func opts(obj api.Object, p []any, i int, paged bool) (api.ListOptions, error) {
	m, err := xmlrpc.OptStruct(p, i, "opts")
	if err != nil {
		return api.ListOptions{}, err
	}
	return listOptions(obj, m, paged)
}

// list is the shape of every *.list method.
func list[T, S any](obj api.Object, fn func(context.Context, *service.Caller, api.ListOptions) ([]T, error), shape func(T) S) handler {
	return func(ctx context.Context, c *service.Caller, p []any) (any, error) {
		o, err := opts(obj, p, 1, true)
		if err != nil {
			return nil, err
		}
		items, err := fn(ctx, c, o)
		if err != nil {
			return nil, err
		}
		return shapeAll(items, shape), nil
	}
}

// shapeAll is the wire array of items, each shaped.
func shapeAll[T, S any](items []T, shape func(T) S) []any {
	out := make([]any, len(items))
	for i, x := range items {
		out[i] = shape(x)
	}
	return out
}

// count is the shape of every *.count method.
func count(obj api.Object, fn func(context.Context, *service.Caller, api.ListOptions) (int64, error)) handler {
	return func(ctx context.Context, c *service.Caller, p []any) (any, error) {
		o, err := opts(obj, p, 1, false)
		if err != nil {
			return nil, err
		}
		return fn(ctx, c, o)
	}
}

// byID is the shape of methods taking one object id and returning one value.
func byID[T any](name string, fn func(context.Context, *service.Caller, int64) (T, error), shape func(T) any) handler {
	return func(ctx context.Context, c *service.Caller, p []any) (any, error) {
		id, err := xmlrpc.Int(p, 1, name)
		if err != nil {
			return nil, err
		}
		v, err := fn(ctx, c, id)
		if err != nil {
			return nil, err
		}
		return shape(v), nil
	}
}

func short(o *api.Operation) any { return opShort(*o) }
func full(o *api.Operation) any  { return opFull(*o) }
