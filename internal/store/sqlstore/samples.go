package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/berth-io/berth/internal/store"
)

var _ store.VMSampleLog = (*DB)(nil)

const sampleCols = `vm_id, ts, interval_s, host, cpu_ms, memory_bytes, rss_bytes, disk_read_bytes, disk_write_bytes, disk_reads, disk_writes,
	pub_rx_bytes, pub_tx_bytes, pub_rx_packets, pub_tx_packets, priv_rx_bytes, priv_tx_bytes, priv_rx_packets, priv_tx_packets`

// netArgs are the four columns of one iface type, NULL for a nil usage.
func netArgs(n *store.NetUsage) []any {
	if n == nil {
		return []any{nil, nil, nil, nil}
	}
	return []any{n.RxBytes, n.TxBytes, n.RxPackets, n.TxPackets}
}

// InsertVMSamples implements store.VMSampleLog.
func (db *DB) InsertVMSamples(ctx context.Context, samples []store.VMSample) error {
	if len(samples) == 0 {
		return nil
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("insert vm samples: %w", err)
	}
	defer tx.Rollback()
	ph := make([]string, 19)
	for i := range ph {
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO vm_samples ("+sampleCols+") VALUES ("+strings.Join(ph, ", ")+") ON CONFLICT (vm_id, ts) DO NOTHING")
	if err != nil {
		return fmt.Errorf("insert vm samples: %w", err)
	}
	defer stmt.Close()
	for _, s := range samples {
		args := []any{s.VMID, s.Time.Unix(), int64(s.Interval / time.Second), s.Host, s.CPU.Milliseconds(), s.MemoryBytes, s.RSSBytes,
			s.DiskReadBytes, s.DiskWriteBytes, s.DiskReads, s.DiskWrites}
		args = append(append(args, netArgs(s.Public)...), netArgs(s.Private)...)
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("insert vm samples: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("insert vm samples: %w", err)
	}
	return nil
}

// nullNet scans the four columns of one iface type.
type nullNet [4]sql.NullInt64

func (n *nullNet) dest() []any { return []any{&n[0], &n[1], &n[2], &n[3]} }

func (n *nullNet) usage() *store.NetUsage {
	if !n[0].Valid {
		return nil
	}
	return &store.NetUsage{RxBytes: n[0].Int64, TxBytes: n[1].Int64, RxPackets: n[2].Int64, TxPackets: n[3].Int64}
}

// VMSamples implements store.VMSampleLog.
func (db *DB) VMSamples(ctx context.Context, vmIDs []int64, after, upto time.Time) ([]store.VMSample, error) {
	if len(vmIDs) == 0 {
		return nil, nil
	}
	args := []any{after.Unix(), upto.Unix()}
	ph := make([]string, len(vmIDs))
	for i, id := range vmIDs {
		args = append(args, id)
		ph[i] = "$" + strconv.Itoa(len(args))
	}
	rows, err := db.read.QueryContext(ctx, "SELECT "+sampleCols+" FROM vm_samples WHERE ts > $1 AND ts <= $2 AND vm_id IN ("+
		strings.Join(ph, ", ")+") ORDER BY vm_id, ts", args...)
	if err != nil {
		return nil, fmt.Errorf("vm samples: %w", err)
	}
	defer rows.Close()
	var out []store.VMSample
	for rows.Next() {
		var s store.VMSample
		var ts, interval, cpu int64
		var pub, priv nullNet
		dest := []any{&s.VMID, &ts, &interval, &s.Host, &cpu, &s.MemoryBytes, &s.RSSBytes, &s.DiskReadBytes, &s.DiskWriteBytes, &s.DiskReads, &s.DiskWrites}
		if err := rows.Scan(append(append(dest, pub.dest()...), priv.dest()...)...); err != nil {
			return nil, fmt.Errorf("vm samples: %w", err)
		}
		s.Time, s.Interval, s.CPU = time.Unix(ts, 0).UTC(), time.Duration(interval)*time.Second, time.Duration(cpu)*time.Millisecond
		s.Public, s.Private = pub.usage(), priv.usage()
		out = append(out, s)
	}
	return out, rows.Err()
}

// PruneVMSamples implements store.VMSampleLog.
func (db *DB) PruneVMSamples(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.write.ExecContext(ctx, "DELETE FROM vm_samples WHERE ts < $1", before.Unix())
	if err != nil {
		return 0, fmt.Errorf("prune vm samples: %w", err)
	}
	return res.RowsAffected()
}
