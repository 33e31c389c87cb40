package service

import (
	"context"
	"fmt"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// ImageSpec describes an image to register.
type ImageSpec struct {
	Label         string
	DatacenterID  int64
	OSArch        string
	System        string
	Version       string
	KernelVersion string
	Cmdline       string
	SizeMB        int64
}

// RegisterImage records an image and its public source disk, in state created: the
// caller has already put the disk's data in place with importData, which gets the new
// disk's id and returns the disk's size in MB. An image with the same label in the
// datacenter is returned as it is.
func (s *Service) RegisterImage(ctx context.Context, spec ImageSpec, importData func(diskID int64) (int64, error)) (*api.Image, error) {
	if _, err := s.cat.Datacenter(spec.DatacenterID); err != nil {
		return nil, err
	}
	if spec.Label == "" {
		return nil, fmt.Errorf("image label is empty")
	}
	var out api.Image
	err := s.st.Write(ctx, func(tx store.Tx) error {
		existing, err := tx.Images(store.Query{Scope: store.AllAccounts, Filters: []api.Filter{
			{Field: "label", Values: []any{spec.Label}}, {Field: "datacenter_id", Values: []any{spec.DatacenterID}}}})
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			out = *existing[0]
			return nil
		}
		now := s.now().UTC()
		d := &store.Disk{AccountID: store.PublicAccount, Disk: api.Disk{
			DatacenterID: spec.DatacenterID, Name: "image_" + fmt.Sprint(now.UnixNano()%1e9), Size: spec.SizeMB,
			State: api.StateCreated, Type: api.DiskData, Visibility: "all", KernelVersion: spec.KernelVersion,
			KernelCmdline: spec.Cmdline, Label: spec.Label, EntityID: entityID(), Created: now, Updated: now,
		}}
		if err := tx.InsertDisk(d); err != nil {
			return err
		}
		size, err := importData(d.ID)
		if err != nil {
			return fmt.Errorf("import image %s: %w", spec.Label, err)
		}
		if size > d.Size {
			d.Size = size
			if err := tx.UpdateDisk(d); err != nil {
				return err
			}
		}
		im := &api.Image{Label: spec.Label, OSArch: spec.OSArch, KernelVersion: spec.KernelVersion, System: spec.System,
			Version: spec.Version, Visibility: "all", DatacenterID: spec.DatacenterID, DiskID: d.ID, Size: d.Size, Created: now, Updated: now}
		if err := tx.InsertImage(im); err != nil {
			return err
		}
		auditTouch(ctx, 0, AuditObject(api.ObjImage, im.ID))
		out = *im
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
