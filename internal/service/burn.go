package service

import (
	"context"

	"github.com/berth-io/berth/internal/billing"
	"github.com/berth-io/berth/internal/store"
)

// HourlyBurn returns what the caller's account spends per hour now, in thousandths of a
// credit (the billing loop's own formula over the account's usage).
func (s *Service) HourlyBurn(ctx context.Context, c *Caller) (int64, error) {
	var milli int64
	err := s.read(ctx, func(tx store.Tx) error {
		u, err := tx.Usage(c.AccountID)
		if err != nil {
			return err
		}
		milli = billing.HourlyMilli(u, s.cfg.Rating)
		return nil
	})
	return milli, err
}

// PriceMilli returns the hourly price of a running VM of this shape with its system disk
// and public addresses, in thousandths of a credit.
func (s *Service) PriceMilli(cores, memoryMB, diskMB int64, ipv4 bool) int64 {
	u := store.Usage{RunningVMs: 1, Cores: cores, MemoryMB: memoryMB, DiskMB: diskMB, IPv6: 1}
	if ipv4 {
		u.IPv4 = 1
	}
	return billing.HourlyMilli(u, s.cfg.Rating)
}
