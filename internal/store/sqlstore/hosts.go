package sqlstore

import (
	"time"

	"github.com/berth-io/berth/internal/store"
)

func (t *txn) SaveHost(h *store.Host) error {
	_, err := t.exec(`INSERT INTO hosts (name, datacenter_id, memory_mb, disk_mb, state, heartbeat_at, started_at, vtep_addr, internal_url)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (name) DO UPDATE SET datacenter_id = $2, memory_mb = $3, disk_mb = $4, state = $5, heartbeat_at = $6, started_at = $7,
		vtep_addr = $8, internal_url = $9`,
		h.Name, h.DatacenterID, h.MemoryMB, h.DiskMB, h.State, unix(h.Heartbeat), unix(h.Started), h.VTEPAddr, h.InternalURL)
	return err
}

func (t *txn) Hosts() ([]*store.Host, error) {
	rows, err := t.query(`SELECT name, datacenter_id, memory_mb, disk_mb, state, heartbeat_at, started_at, vtep_addr, internal_url, draining FROM hosts ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Host
	for rows.Next() {
		h := &store.Host{}
		if err := rows.Scan(&h.Name, &h.DatacenterID, &h.MemoryMB, &h.DiskMB, &h.State, unixTime{&h.Heartbeat}, unixTime{&h.Started}, &h.VTEPAddr, &h.InternalURL, boolInt{&h.Draining}); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func (t *txn) SetDraining(name string, on bool) (bool, error) {
	res, err := t.exec(`UPDATE hosts SET draining = $2 WHERE name = $1`, name, b2i(on))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func (t *txn) Heartbeat(name string, at time.Time) (bool, error) {
	res, err := t.exec(`UPDATE hosts SET heartbeat_at = $2, state = 'up' WHERE name = $1`, name, unix(at))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func (t *txn) MarkDown(before time.Time) ([]string, error) {
	rows, err := t.query(`UPDATE hosts SET state = 'down' WHERE state = 'up' AND heartbeat_at < $1 RETURNING name`, unix(before))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func (t *txn) HostLoad() (map[string][2]int64, error) {
	out := map[string][2]int64{}
	for i, q := range []string{
		`SELECT host, COALESCE(SUM(memory), 0) FROM vms GROUP BY host`,
		`SELECT host, COALESCE(SUM(size), 0) FROM disks WHERE account_id <> 0 GROUP BY host`,
	} {
		rows, err := t.query(q)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var h string
			var n int64
			if err := rows.Scan(&h, &n); err != nil {
				rows.Close()
				return nil, err
			}
			v := out[h]
			v[i] = n
			out[h] = v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *txn) ClusterSecret(name, candidate string) (string, error) {
	if _, err := t.exec(`INSERT INTO cluster_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, candidate); err != nil {
		return "", err
	}
	var v string
	err := t.queryRow(`SELECT value FROM cluster_secrets WHERE name = $1`, name).Scan(&v)
	return v, err
}
