package server

import (
	"context"
	"net/http"
	"time"

	"github.com/berth-io/berth/internal/rest"
)

// mountREST serves the REST API under /v1/ on mux.
func (d *Daemon) mountREST(mux *http.ServeMux) {
	mux.Handle("/v1/", rest.New(d.svc, d.log, d.metrics.observeREST))
	mux.Handle("GET /metrics", d.metrics.handler())
}

// pruneIdempotency deletes expired idempotency keys, hourly.
func (d *Daemon) pruneIdempotency(ctx context.Context) {
	d.every(ctx, time.Hour, "idempotency prune", func(ctx context.Context) error {
		_, err := d.svc.PruneIdempotency(ctx)
		return err
	})
}
