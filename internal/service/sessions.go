package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// SessionTTL is how long a web console login lasts.
const SessionTTL = 12 * time.Hour

func sessionHash(token string) string {
	h := sha256.Sum256([]byte("berth-session:" + token))
	return hex.EncodeToString(h[:])
}

func (s *Service) sessions() (store.Sessions, error) {
	ss, ok := s.base.(store.Sessions)
	if !ok {
		return nil, api.Errorf(api.Unavailable, api.ObjAccount, "this store keeps no sessions")
	}
	return ss, nil
}

// Login checks an API key and opens a web console session: it returns a random token for
// the cookie (only its hash is stored, so any API server of the cluster accepts it).
func (s *Service) Login(ctx context.Context, key string) (string, *Caller, error) {
	c, err := s.AuthKey(ctx, key) // the console needs no API access: it says so instead
	if err != nil {
		return "", nil, err
	}
	ss, err := s.sessions()
	if err != nil {
		return "", nil, err
	}
	var b [32]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	if err := ss.CreateSession(ctx, sessionHash(token), c.AccountID, c.KeyID, s.now().Add(SessionTTL)); err != nil {
		return "", nil, s.internal(err)
	}
	return token, c, nil
}

// SessionAuth returns the caller of a web console session token.
func (s *Service) SessionAuth(ctx context.Context, token string) (*Caller, error) {
	ss, err := s.sessions()
	if err != nil {
		return nil, err
	}
	if len(token) != 64 {
		return nil, api.Errorf(api.NoRight, api.ObjAccount, "not logged in")
	}
	id, keyID, err := ss.SessionAccount(ctx, sessionHash(token), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, api.Errorf(api.NoRight, api.ObjAccount, "session expired: log in again")
	}
	if err != nil {
		return nil, s.internal(err)
	}
	var c *Caller
	err = s.st.Read(ctx, func(tx store.Tx) error {
		a, err := tx.AccountByID(id)
		if err != nil {
			return err
		}
		on, err := tx.APIAccess(a.ID)
		c = &Caller{AccountID: a.ID, Handle: a.Handle, KeyID: keyID, APIAccess: on}
		return err
	})
	if err != nil {
		return nil, api.Errorf(api.NoRight, api.ObjAccount, "session expired: log in again")
	}
	auditCaller(ctx, c)
	return c, nil
}

// Logout ends a web console session (and prunes the expired ones).
func (s *Service) Logout(ctx context.Context, token string) error {
	ss, err := s.sessions()
	if err != nil {
		return err
	}
	if err := ss.DeleteSession(ctx, sessionHash(token), s.now()); err != nil {
		return s.internal(err)
	}
	return nil
}
