package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/berth-io/berth/internal/store"
)

// CreateSession implements store.Sessions.
func (db *DB) CreateSession(ctx context.Context, tokenHash string, account, keyID int64, expires time.Time) error {
	_, err := db.write.ExecContext(ctx, "INSERT INTO web_sessions (token_hash, account_id, key_id, expires_at) VALUES ($1, $2, $3, $4)", tokenHash, account, keyID, expires.Unix())
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionAccount implements store.Sessions.
func (db *DB) SessionAccount(ctx context.Context, tokenHash string, now time.Time) (account, keyID int64, err error) {
	err = db.read.QueryRowContext(ctx, "SELECT account_id, key_id FROM web_sessions WHERE token_hash = $1 AND expires_at > $2", tokenHash, now.Unix()).Scan(&account, &keyID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, store.ErrNotFound
	}
	if err != nil {
		return 0, 0, fmt.Errorf("session: %w", err)
	}
	return account, keyID, nil
}

// DeleteSession implements store.Sessions.
func (db *DB) DeleteSession(ctx context.Context, tokenHash string, now time.Time) error {
	_, err := db.write.ExecContext(ctx, "DELETE FROM web_sessions WHERE token_hash = $1 OR expires_at <= $2", tokenHash, now.Unix())
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}
