package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-io/berth/internal/agent"
	"github.com/berth-io/berth/internal/hosttoken"
	"github.com/berth-io/berth/internal/store"
	"github.com/berth-io/berth/internal/volume"
)

// Disk moves between hosts: the destination agent (running the attach) fetches
// GET /internal/v1/disks/{id} from the source agent's internal listener, with a host
// token; the body is the qcow2 file, X-Berth-Backing names the image it is an overlay of,
// and the trailer X-Berth-SHA256 the checksum of the bytes sent.

const (
	hdrBacking = "X-Berth-Backing"
	hdrSHA256  = "X-Berth-Sha256"
)

// internalDisk streams one of this host's disks to another host.
func (d *Daemon) internalDisk(w http.ResponseWriter, r *http.Request) {
	id, _, ok := d.internalAuth(w, r, "disk")
	if !ok {
		return
	}
	mv, ok := d.be.vol.(volume.Mover)
	if !ok {
		http.Error(w, "this host cannot send disks", http.StatusConflict)
		return
	}
	f, size, backing, err := mv.Open(r.Context(), id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Trailer", hdrSHA256)
	w.Header().Set(hdrBacking, strconv.FormatInt(backing, 10))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), f)
	if err != nil || n != size {
		d.log.Error("send disk", "disk", id, "sent", n, "size", size, "err", err)
		return // no trailer: the receiver refuses the copy
	}
	w.Header().Set(hdrSHA256, hex.EncodeToString(h.Sum(nil)))
	d.log.Info("disk sent to another host", "disk", id, "bytes", n, "remote", r.RemoteAddr)
}

// diskFetcher fetches disks from other agents for this one.
type diskFetcher struct{ d *Daemon }

var _ agent.DiskFetcher = diskFetcher{}

// FetchDisk implements agent.DiskFetcher.
func (f diskFetcher) FetchDisk(ctx context.Context, hostName string, id int64) (io.ReadCloser, int64, func() error, error) {
	d := f.d
	var host *store.Host
	err := d.st.Read(ctx, func(tx store.Tx) error {
		hosts, err := tx.Hosts()
		for _, h := range hosts {
			if h.Name == hostName {
				host = h
			}
		}
		return err
	})
	if err != nil {
		return nil, 0, nil, err
	}
	if host == nil || host.InternalURL == "" {
		return nil, 0, nil, fmt.Errorf("host %s has no internal listener", hostName)
	}
	secret, err := d.internalSecret(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	tok, err := hosttoken.Sign(secret, hosttoken.Claims{What: "disk", ID: id, Host: host.Name}, time.Now())
	if err != nil {
		return nil, 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/internal/v1/disks/%d", host.InternalURL, id), nil)
	if err != nil {
		return nil, 0, nil, err
	}
	req.Header.Set("Authorization", hosttoken.Scheme+" "+tok)
	tr := &http.Transport{ResponseHeaderTimeout: 30 * time.Second}
	if d.opt.DialInternal != nil {
		tr.DialContext = d.opt.DialInternal
	} else {
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, 0, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, 0, nil, fmt.Errorf("host %s: %s: %s", host.Name, resp.Status, strings.TrimSpace(string(b)))
	}
	backing, err := strconv.ParseInt(resp.Header.Get(hdrBacking), 10, 64)
	if err != nil {
		resp.Body.Close()
		return nil, 0, nil, fmt.Errorf("host %s: bad %s header", host.Name, hdrBacking)
	}
	body := &hashingReader{r: resp.Body, h: sha256.New()}
	verify := func() error {
		want := resp.Trailer.Get(hdrSHA256)
		if want == "" {
			return errors.New("the source sent no checksum: the copy is incomplete")
		}
		if got := hex.EncodeToString(body.h.Sum(nil)); got != want {
			return fmt.Errorf("checksum mismatch: received %s, sent %s", got, want)
		}
		return nil
	}
	return body, backing, verify, nil
}

// hashingReader hashes what is read through it.
type hashingReader struct {
	r io.ReadCloser
	h hash.Hash
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

func (h *hashingReader) Close() error { return h.r.Close() }
