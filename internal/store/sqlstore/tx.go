package sqlstore

import (
	"errors"
	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

func one[T any](list []*T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, store.ErrNotFound
	}
	return list[0], nil
}

// Accounts.

func (t *txn) InsertAccount(a *store.Account) error { return accounts.insert(t, a) }
func (t *txn) UpdateAccount(a *store.Account) error { return accounts.update(t, a) }
func (t *txn) AccountByID(id int64) (*store.Account, error) {
	return accounts.get(t, store.AllAccounts, id)
}
func (t *txn) AccountByKeyHash(h string) (*store.Account, error) {
	return one(accounts.queryRows(t, accountByKey, h))
}
func (t *txn) AccountByHandle(h string) (*store.Account, error) {
	return one(accounts.queryRows(t, accountByHandle, h))
}
func (t *txn) Accounts() ([]*store.Account, error) {
	return accounts.list(t, store.Query{Scope: store.AllAccounts})
}

// Images.

func (t *txn) InsertImage(im *api.Image) error            { return images.insert(t, im) }
func (t *txn) UpdateImage(im *api.Image) error            { return images.update(t, im) }
func (t *txn) Images(q store.Query) ([]*api.Image, error) { return images.list(t, q) }
func (t *txn) CountImages(q store.Query) (int64, error)   { return images.count(t, q) }

// VMs.

func (t *txn) InsertVM(v *store.VM) error            { return vms.insert(t, v) }
func (t *txn) UpdateVM(v *store.VM) error            { return vms.update(t, v) }
func (t *txn) DeleteVM(id int64) error               { return vms.delete(t, id) }
func (t *txn) CountVMs(q store.Query) (int64, error) { return vms.count(t, q) }

func (t *txn) VM(scope, id int64) (*store.VM, error) {
	v, err := vms.get(t, scope, id)
	if err != nil {
		return nil, err
	}
	return v, t.fillVMs([]*store.VM{v})
}

func (t *txn) VMs(q store.Query) ([]*store.VM, error) {
	list, err := vms.list(t, q)
	if err != nil {
		return nil, err
	}
	return list, t.fillVMs(list)
}

func (t *txn) fillVMs(list []*store.VM) error {
	ids := make([]int64, len(list))
	for i, v := range list {
		ids[i] = v.ID
	}
	d, err := idsByParent(t, vmDisksByParent, ids)
	if err != nil {
		return err
	}
	f, err := idsByParent(t, vmIfacesByParent, ids)
	if err != nil {
		return err
	}
	for _, v := range list {
		v.DisksID = nonNil(d[v.ID])
		v.IfacesID = nonNil(f[v.ID])
	}
	return nil
}

func nonNil(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

// Disks.

func (t *txn) InsertDisk(d *store.Disk) error          { return disks.insert(t, d) }
func (t *txn) UpdateDisk(d *store.Disk) error          { return disks.update(t, d) }
func (t *txn) DeleteDisk(id int64) error               { return disks.delete(t, id) }
func (t *txn) CountDisks(q store.Query) (int64, error) { return disks.count(t, q) }

func (t *txn) Disk(scope, id int64) (*store.Disk, error) {
	d, err := disks.get(t, scope, id)
	if err != nil {
		return nil, err
	}
	return d, t.fillDisks([]*store.Disk{d})
}

func (t *txn) Disks(q store.Query) ([]*store.Disk, error) {
	list, err := disks.list(t, q)
	if err != nil {
		return nil, err
	}
	return list, t.fillDisks(list)
}

func (t *txn) DisksOfVM(vmID int64) ([]*store.Disk, error) {
	list, err := disks.queryRows(t, disksOfVM, vmID)
	if err != nil {
		return nil, err
	}
	return list, t.fillDisks(list)
}

func (t *txn) fillDisks(list []*store.Disk) error {
	ids := make([]int64, len(list))
	for i, d := range list {
		ids[i] = d.ID
	}
	s, err := idsByParent(t, snapshotsByParent, ids)
	if err != nil {
		return err
	}
	for _, d := range list {
		d.SnapshotsID = nonNil(s[d.ID])
	}
	return nil
}

// Ifaces.

func (t *txn) InsertIface(f *store.Iface) error         { return ifaces.insert(t, f) }
func (t *txn) UpdateIface(f *store.Iface) error         { return ifaces.update(t, f) }
func (t *txn) DeleteIface(id int64) error               { return ifaces.delete(t, id) }
func (t *txn) CountIfaces(q store.Query) (int64, error) { return ifaces.count(t, q) }

func (t *txn) Iface(scope, id int64) (*store.Iface, error) {
	f, err := ifaces.get(t, scope, id)
	if err != nil {
		return nil, err
	}
	return f, t.fillIfaces([]*store.Iface{f})
}

func (t *txn) Ifaces(q store.Query) ([]*store.Iface, error) {
	list, err := ifaces.list(t, q)
	if err != nil {
		return nil, err
	}
	return list, t.fillIfaces(list)
}

func (t *txn) IfacesOfVM(vmID int64) ([]*store.Iface, error) {
	list, err := ifaces.queryRows(t, ifacesOfVM, vmID)
	if err != nil {
		return nil, err
	}
	return list, t.fillIfaces(list)
}

func (t *txn) fillIfaces(list []*store.Iface) error {
	ids := make([]int64, len(list))
	for i, f := range list {
		ids[i] = f.ID
	}
	p, err := idsByParent(t, ipsByParent, ids)
	if err != nil {
		return err
	}
	for _, f := range list {
		f.IPsID = nonNil(p[f.ID])
		f.VLAN = nil
		if f.VLANID != 0 {
			v, err := vlans.get(t, store.AllAccounts, f.VLANID)
			if err == nil {
				f.VLAN = &api.VLANRef{ID: v.ID, Name: v.Name, EntityID: v.EntityID}
			}
		}
	}
	return nil
}

// IPs.

// InsertIP inserts an address inside a savepoint: a duplicate (ErrDuplicate) leaves the
// transaction usable on PostgreSQL too, so the caller can try another address.
func (t *txn) InsertIP(ip *store.IP) error {
	if _, err := t.exec("SAVEPOINT insert_ip"); err != nil {
		return err
	}
	if err := ips.insert(t, ip); err != nil {
		if _, rerr := t.exec("ROLLBACK TO SAVEPOINT insert_ip"); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	_, err := t.exec("RELEASE SAVEPOINT insert_ip")
	return err
}

func (t *txn) UpdateIP(ip *store.IP) error           { return ips.update(t, ip) }
func (t *txn) CountIPs(q store.Query) (int64, error) { return ips.count(t, q) }

func (t *txn) DeleteIPsOfIface(ifaceID int64) error {
	rows, err := t.query("DELETE FROM ips WHERE iface_id = $1 RETURNING id, account_id", ifaceID)
	if err != nil {
		return err
	}
	type gone struct{ id, acct int64 }
	var list []gone
	for rows.Next() {
		var g gone
		if err := rows.Scan(&g.id, &g.acct); err != nil {
			rows.Close()
			return err
		}
		list = append(list, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, g := range list {
		if err := t.emit(ips.kind, evDeleted, g.acct, g.id, nil); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) IP(scope, id int64) (*store.IP, error) {
	ip, err := ips.get(t, scope, id)
	if err != nil {
		return nil, err
	}
	return ip, t.fillIPs([]*store.IP{ip})
}

func (t *txn) IPs(q store.Query) ([]*store.IP, error) {
	list, err := ips.list(t, q)
	if err != nil {
		return nil, err
	}
	return list, t.fillIPs(list)
}

func (t *txn) IPsOfIface(ifaceID int64) ([]*store.IP, error) {
	list, err := ips.queryRows(t, ipsOfIface, ifaceID)
	if err != nil {
		return nil, err
	}
	return list, t.fillIPs(list)
}

func (t *txn) fillIPs(list []*store.IP) error {
	cache := map[int64]*store.Iface{}
	for _, ip := range list {
		f, ok := cache[ip.IfaceID]
		if !ok {
			var err error
			f, err = ifaces.get(t, store.AllAccounts, ip.IfaceID)
			if err != nil && err != store.ErrNotFound {
				return err
			}
			cache[ip.IfaceID] = f
		}
		if f != nil {
			ip.VMID = f.VMID
			ip.Bandwidth = f.Bandwidth
			ip.IfaceNum = f.Num
		}
	}
	return nil
}

func (t *txn) UsedAddresses(network string) ([]string, error) {
	rows, err := t.query(usedAddresses, network)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// VLANs.

func (t *txn) InsertVLAN(v *store.VLAN) error             { return vlans.insert(t, v) }
func (t *txn) UpdateVLAN(v *store.VLAN) error             { return vlans.update(t, v) }
func (t *txn) DeleteVLAN(id int64) error                  { return vlans.delete(t, id) }
func (t *txn) VLAN(scope, id int64) (*store.VLAN, error)  { return vlans.get(t, scope, id) }
func (t *txn) VLANs(q store.Query) ([]*store.VLAN, error) { return vlans.list(t, q) }
func (t *txn) CountVLANs(q store.Query) (int64, error)    { return vlans.count(t, q) }

// SSH keys.

func (t *txn) InsertSSHKey(k *store.SSHKey) error             { return sshKeys.insert(t, k) }
func (t *txn) DeleteSSHKey(id int64) error                    { return sshKeys.delete(t, id) }
func (t *txn) SSHKey(scope, id int64) (*store.SSHKey, error)  { return sshKeys.get(t, scope, id) }
func (t *txn) SSHKeys(q store.Query) ([]*store.SSHKey, error) { return sshKeys.list(t, q) }
func (t *txn) CountSSHKeys(q store.Query) (int64, error)      { return sshKeys.count(t, q) }

// Operations.

func (t *txn) InsertOperation(o *store.Operation) error {
	r, err := toRow(o)
	if err != nil {
		return err
	}
	if err := operations.insert(t, r); err != nil {
		return err
	}
	o.ID = r.ID
	return nil
}

func (t *txn) UpdateOperation(o *store.Operation) error {
	r, err := toRow(o)
	if err != nil {
		return err
	}
	return operations.update(t, r)
}

func (t *txn) Operation(scope, id int64) (*store.Operation, error) {
	r, err := operations.get(t, scope, id)
	if err != nil {
		return nil, err
	}
	return fromRow(r)
}

func (t *txn) Operations(q store.Query) ([]*store.Operation, error) {
	rows, err := operations.list(t, q)
	if err != nil {
		return nil, err
	}
	out := make([]*store.Operation, len(rows))
	for i, r := range rows {
		if out[i], err = fromRow(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *txn) CountOperations(q store.Query) (int64, error) { return operations.count(t, q) }

func (t *txn) PendingBefore(o *store.Operation) (bool, error) {
	var n int64
	err := t.queryRow(pendingBefore, o.ID, o.VMID, o.DiskID, o.IfaceID, o.VLANID).Scan(&n)
	return n > 0, err
}

func (t *txn) Usage(account int64) (store.Usage, error) {
	var u store.Usage
	err := t.queryRow(`SELECT
		(SELECT COUNT(*) FROM vms WHERE account_id = $1 AND state = 'running'),
		(SELECT COALESCE(SUM(cores), 0) FROM vms WHERE account_id = $1 AND state = 'running'),
		(SELECT COALESCE(SUM(memory), 0) FROM vms WHERE account_id = $1 AND state = 'running'),
		(SELECT COALESCE(SUM(size), 0) FROM disks WHERE account_id = $1 AND type = 'data'),
		(SELECT COALESCE(SUM(size), 0) FROM disks WHERE account_id = $1 AND type = 'snapshot'),
		(SELECT COUNT(*) FROM ips WHERE account_id = $1 AND type = 'public' AND version = 4),
		(SELECT COUNT(*) FROM ips WHERE account_id = $1 AND type = 'public' AND version = 6)`, account).
		Scan(&u.RunningVMs, &u.Cores, &u.MemoryMB, &u.DiskMB, &u.SnapshotMB, &u.IPv4, &u.IPv6)
	return u, err
}

// Lock takes a lock held until the transaction ends. SQLite has one writer at a time, so
// it has nothing to do; PostgreSQL takes a transaction-scoped advisory lock.
func (t *txn) Lock(name string) error {
	if t.dialect != "postgres" {
		return nil
	}
	_, err := t.exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", name)
	return err
}

// TryLock takes a lock held until the transaction ends if no other transaction holds it,
// and reports whether it did. SQLite has one writer at a time: always true.
func (t *txn) TryLock(name string) (bool, error) {
	if t.dialect != "postgres" {
		return true, nil
	}
	var ok bool
	err := t.queryRow("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", name).Scan(&ok)
	return ok, err
}

// The texts of the queries prepared when the store opens (stmt.go).
var (
	accountByKey      = "SELECT " + accounts.selectCols() + " FROM accounts WHERE key_hash = $1"
	accountByHandle   = "SELECT " + accounts.selectCols() + " FROM accounts WHERE handle = $1"
	disksOfVM         = "SELECT " + disks.selectCols() + " FROM disks WHERE vm_id = $1 ORDER BY position"
	ifacesOfVM        = "SELECT " + ifaces.selectCols() + " FROM ifaces WHERE vm_id = $1 ORDER BY num"
	ipsOfIface        = "SELECT " + ips.selectCols() + " FROM ips WHERE iface_id = $1 ORDER BY num"
	usedAddresses     = "SELECT ip FROM ips WHERE network = $1"
	vmDisksByParent   = "SELECT vm_id, id FROM disks WHERE vm_id IN (?) ORDER BY vm_id, position"
	vmIfacesByParent  = "SELECT vm_id, id FROM ifaces WHERE vm_id IN (?) ORDER BY vm_id, num"
	snapshotsByParent = "SELECT source, id FROM disks WHERE type = 'snapshot' AND source IN (?) ORDER BY source, id"
	ipsByParent       = "SELECT iface_id, id FROM ips WHERE iface_id IN (?) ORDER BY iface_id, num"
	pendingBefore     = `SELECT COUNT(*) FROM operations WHERE id < $1
		AND step IN ('BILL', 'WAIT', 'RUN')
		AND (($2 <> 0 AND vm_id = $2) OR ($3 <> 0 AND disk_id = $3) OR ($4 <> 0 AND iface_id = $4) OR ($5 <> 0 AND vlan_id = $5))`
)

func (t *txn) VMStates(host string) (map[int64]string, error) {
	rows, err := t.query("SELECT id, state FROM vms WHERE host = $1", host)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		out[id] = st
	}
	return out, rows.Err()
}

func (t *txn) BusyVMs() (map[int64]bool, error) {
	rows, err := t.query("SELECT DISTINCT vm_id FROM operations WHERE step IN ('BILL', 'WAIT', 'RUN') AND vm_id <> 0")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

func (t *txn) VMDetail(scope, id int64) (*store.VMDetail, error) {
	v, err := vms.get(t, scope, id)
	if err != nil {
		return nil, err
	}
	d := &store.VMDetail{VM: v, IPs: map[int64][]*store.IP{}}
	if d.Disks, err = t.DisksOfVM(id); err != nil {
		return nil, err
	}
	if d.Ifaces, err = ifaces.queryRows(t, ifacesOfVM, id); err != nil {
		return nil, err
	}
	v.DisksID, v.IfacesID = []int64{}, []int64{}
	for _, x := range d.Disks {
		v.DisksID = append(v.DisksID, x.ID)
	}
	for _, f := range d.Ifaces {
		v.IfacesID = append(v.IfacesID, f.ID)
		f.IPsID = []int64{}
		if f.VLANID != 0 {
			if vl, err := vlans.get(t, store.AllAccounts, f.VLANID); err == nil {
				f.VLAN = &api.VLANRef{ID: vl.ID, Name: vl.Name, EntityID: vl.EntityID}
			}
		}
		list, err := ips.queryRows(t, ipsOfIface, f.ID)
		if err != nil {
			return nil, err
		}
		for _, ip := range list {
			ip.VMID, ip.Bandwidth, ip.IfaceNum = f.VMID, f.Bandwidth, f.Num
			f.IPsID = append(f.IPsID, ip.ID)
		}
		d.IPs[f.ID] = list
	}
	return d, nil
}
