package service

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

var keyNameRE = regexp.MustCompile(`^[a-zA-Z0-9 _.@-]{1,128}$`)

// fingerprint returns the MD5 fingerprint (aa:bb:…) of an OpenSSH public key line.
func fingerprint(value string) (string, error) {
	fields := strings.Fields(value)
	if len(fields) < 2 {
		return "", errors.New("not an OpenSSH public key: want 'type base64 [comment]'")
	}
	switch fields[0] {
	case "ssh-rsa", "ssh-ed25519", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
		"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com":
	default:
		return "", fmt.Errorf("unknown key type %q", truncate(fields[0], 40))
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil || len(blob) < 16 {
		return "", errors.New("the key data is not valid base64")
	}
	sum := md5.Sum(blob)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(parts, ":"), nil
}

// SSHKeyCreate stores a public key.
func (s *Service) SSHKeyCreate(ctx context.Context, c *Caller, name, value string) (*api.SSHKey, error) {
	value = strings.TrimSpace(value)
	if !keyNameRE.MatchString(name) {
		return nil, api.Errorf(api.Invalid, api.ObjSSHKey, "name %q is empty, too long or has characters other than letters, digits, ' ', '_', '.', '@', '-'", truncate(name, 70))
	}
	fp, err := fingerprint(value)
	if err != nil {
		return nil, api.Errorf(api.Invalid, api.ObjSSHKey, "value: %v", err)
	}
	k := &store.SSHKey{AccountID: c.AccountID, SSHKey: api.SSHKey{Name: name, Fingerprint: fp, Value: value}, Created: s.now().UTC()}
	err = s.st.Write(ctx, func(tx store.Tx) error {
		if err := tx.InsertSSHKey(k); err != nil {
			return err
		}
		auditTouch(ctx, c.AccountID, AuditObject(api.ObjSSHKey, k.ID))
		return s.remember(ctx, tx, c.AccountID, &k.SSHKey)
	})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, api.Errorf(api.Conflict, api.ObjSSHKey, "a key named %s already exists", name)
	}
	if err != nil {
		return nil, s.internal(err)
	}
	return &k.SSHKey, nil
}

// SSHKeyInfo returns one key with its value.
func (s *Service) SSHKeyInfo(ctx context.Context, c *Caller, id int64) (*api.SSHKey, error) {
	var out api.SSHKey
	err := s.st.Read(ctx, func(tx store.Tx) error {
		k, err := tx.SSHKey(c.AccountID, id)
		if err != nil {
			return notFound(err, api.ObjSSHKey, id)
		}
		out = k.SSHKey
		return nil
	})
	if err != nil {
		return nil, s.internal(err)
	}
	return &out, nil
}

// SSHKeyList lists the caller's keys.
func (s *Service) SSHKeyList(ctx context.Context, c *Caller, o api.ListOptions) ([]api.SSHKey, error) {
	return listOf(s, ctx, c, o, store.Tx.SSHKeys, func(k *store.SSHKey) api.SSHKey { return k.SSHKey })
}

// SSHKeyCount counts the caller's keys.
func (s *Service) SSHKeyCount(ctx context.Context, c *Caller, o api.ListOptions) (int64, error) {
	return countOf(s, ctx, c, o, store.Tx.CountSSHKeys)
}

// SSHKeyDelete deletes a key (VMs created with it keep it).
func (s *Service) SSHKeyDelete(ctx context.Context, c *Caller, id int64) error {
	err := s.st.Write(ctx, func(tx store.Tx) error {
		if _, err := tx.SSHKey(c.AccountID, id); err != nil {
			return notFound(err, api.ObjSSHKey, id)
		}
		if err := tx.DeleteSSHKey(id); err != nil {
			return err
		}
		return s.remember(ctx, tx, c.AccountID, map[string]int64{"id": id})
	})
	if err != nil {
		return s.internal(err)
	}
	return nil
}
