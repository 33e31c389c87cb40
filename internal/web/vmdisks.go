package web

import (
	"net/http"
	"strings"

	"github.com/berth-io/berth/internal/service"
)

// Disk actions of the VM page: create (and attach), attach, detach, grow, snapshot and
// roll back.

func (s *Server) vmDiskRoutes() []route {
	return []route{
		{"POST /vms/{id}/disks", s.diskCreate},
		{"POST /vms/{id}/disks/attach", s.diskAttach},
		{"POST /vms/{id}/disks/{disk}/detach", s.diskDetach},
		{"POST /disks/{disk}/grow", s.diskGrow},
		{"POST /disks/{disk}/snapshot", s.diskSnapshot},
		{"POST /disks/{disk}/rollback", s.diskRollback},
	}
}

// diskCreate creates a data disk in the VM's datacenter and attaches it (the attach waits
// for the create: operations on one disk run in order).
func (s *Server) diskCreate(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, dc, err := s.vmDatacenter(r, c)
	if err != nil {
		return err
	}
	gb, err := formInt(r, "size_gb")
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.FormValue("disk_name"))
	op, err := s.svc.DiskCreate(r.Context(), c, service.DiskSpec{DatacenterID: dc, Name: name, Size: gb * 1024})
	if err != nil {
		return err
	}
	att, err := s.svc.DiskAttach(r.Context(), c, id, op.DiskID, -1, false)
	if err != nil {
		return err
	}
	return s.ok(w, "operations %d (disk_create) and %d (disk_attach) queued", op.ID, att.ID)
}

func (s *Server) diskAttach(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, disk, err := vmAnd(r, func() (int64, error) { return formInt(r, "disk_id") })
	if err != nil {
		return err
	}
	op, err := s.svc.DiskAttach(r.Context(), c, id, disk, -1, false)
	return s.opQueued(w, op, err)
}

func (s *Server) diskDetach(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	id, disk, err := vmAnd(r, func() (int64, error) { return pathID(r, "disk") })
	if err != nil {
		return err
	}
	op, err := s.svc.DiskDetach(r.Context(), c, id, disk)
	return s.opQueued(w, op, err)
}

func (s *Server) diskGrow(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	disk, err := pathID(r, "disk")
	if err != nil {
		return err
	}
	gb, err := formInt(r, "size_gb")
	if err != nil {
		return err
	}
	mb := gb * 1024
	op, err := s.svc.DiskUpdate(r.Context(), c, disk, service.DiskUpdate{Size: &mb})
	return s.opQueued(w, op, err)
}

func (s *Server) diskSnapshot(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	disk, err := pathID(r, "disk")
	if err != nil {
		return err
	}
	d, err := s.svc.DiskInfo(r.Context(), c, disk)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.FormValue("name"))
	if name == "" {
		name = d.Name + "-snap"
	}
	op, err := s.svc.DiskCreateFrom(r.Context(), c, service.DiskSpec{DatacenterID: d.DatacenterID, Name: name, Type: "snapshot"}, disk)
	return s.opQueued(w, op, err)
}

func (s *Server) diskRollback(w http.ResponseWriter, r *http.Request, c *service.Caller) error {
	snap, err := pathID(r, "disk")
	if err != nil {
		return err
	}
	op, err := s.svc.DiskRollback(r.Context(), c, snap)
	return s.opQueued(w, op, err)
}

// vmAnd reads the VM id of the path and a second id (a disk's or an iface's).
func vmAnd(r *http.Request, second func() (int64, error)) (int64, int64, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, 0, err
	}
	other, err := second()
	return id, other, err
}

// vmDatacenter reads the VM id of the path and returns it with the VM's datacenter.
func (s *Server) vmDatacenter(r *http.Request, c *service.Caller) (int64, int64, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, 0, err
	}
	vm, err := s.svc.VMInfo(r.Context(), c, id)
	if err != nil {
		return 0, 0, err
	}
	return id, vm.VM.DatacenterID, nil
}
