package server

import (
	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/config"
)

func apiDatacenter(d config.Datacenter) api.Datacenter {
	closed := d.IaaSClosedFor
	if closed == "" {
		closed = "NONE"
	}
	return api.Datacenter{ID: d.ID, Code: d.Code, Name: d.Name, Country: d.Country, ISO: d.ISO,
		IaaSClosedFor: closed, PaaSClosedFor: "NONE", CanMigrateTo: append([]int64{}, d.CanMigrateTo...)}
}
