package seed

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ScriptPath is where a real cloud-init guest stores the first-boot script.
const ScriptPath = "/var/lib/berth/script"

// Files returns the files of a VM's seed by their path in the ISO: meta-data,
// user-data and network-config for cloud-init, and the berth/ files of the tiny guest.
func Files(instanceID string, fb FirstBoot, nics []NIC) (map[string][]byte, error) {
	if err := check(instanceID, fb); err != nil {
		return nil, err
	}
	nf, err := nicFiles(nics)
	if err != nil {
		return nil, err
	}
	keys := sshKeys(fb.SSHKeys)
	login := fb.Login
	if login == "root" {
		login = "" // root already gets the password and the keys
	}
	files := map[string][]byte{
		"meta-data":      metaData(instanceID, fb.Hostname),
		"user-data":      userData(fb, login, keys),
		"berth/hostname": line(fb.Hostname),
	}
	for k, v := range nf {
		if v != nil {
			files[k] = v
		}
	}
	if fb.Password != "" {
		files["berth/root_password"] = line(fb.Password)
	}
	if login != "" {
		files["berth/login"] = line(login)
		if fb.Password != "" {
			files["berth/login_password"] = line(fb.Password)
		}
	}
	if len(keys) > 0 {
		files["berth/authorized_keys"] = []byte(strings.Join(keys, "\n") + "\n")
	}
	if fb.Run != "" {
		files["berth/run"] = []byte(fb.Run)
	}
	if fb.Script != "" {
		files["berth/script"] = []byte(fb.Script)
		if fb.ScriptArgs != "" {
			files["berth/script_args"] = line(fb.ScriptArgs)
		}
	}
	return files, nil
}

// nicFiles returns the seed files that describe the NICs: network-config, and
// berth/ifaces when some NIC has an address (a nil value means the file is absent).
func nicFiles(nics []NIC) (map[string][]byte, error) {
	ifaces, err := parseNICs(nics)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"network-config": networkConfig(ifaces), "berth/ifaces": nil}
	var b bytes.Buffer
	for _, n := range ifaces {
		for _, a := range n.addrs {
			gw := "-"
			if a.gw.IsValid() {
				gw = a.gw.String()
			}
			fmt.Fprintf(&b, "%s %s %s\n", n.mac, a.prefix, gw)
		}
	}
	if b.Len() > 0 {
		files["berth/ifaces"] = b.Bytes()
	}
	return files, nil
}

// check rejects what would break the line-based guest contract.
func check(instanceID string, fb FirstBoot) error {
	if instanceID == "" {
		return fmt.Errorf("seed: empty instance id")
	}
	if fb.Hostname == "" {
		return fmt.Errorf("seed: empty hostname")
	}
	for _, f := range []struct{ name, v string }{
		{"instance id", instanceID}, {"hostname", fb.Hostname}, {"login", fb.Login},
		{"password", fb.Password}, {"script_args", fb.ScriptArgs},
	} {
		if strings.ContainsAny(f.v, "\r\n\x00") {
			return fmt.Errorf("seed: %s holds a line break or NUL", f.name)
		}
	}
	if strings.ContainsAny(fb.Hostname+fb.Login, " \t") {
		return fmt.Errorf("seed: hostname or login holds a blank")
	}
	return nil
}

func line(s string) []byte { return []byte(s + "\n") }

// sshKeys returns one trimmed key per line, dropping blank lines.
func sshKeys(in []string) []string {
	var out []string
	for _, k := range in {
		for l := range strings.Lines(k) {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

// nic is a NIC's validated first-boot data.
type nic struct {
	mac   string // lowercase, colon-separated
	addrs []addr
}

type addr struct {
	prefix netip.Prefix // address with its prefix length
	gw     netip.Addr   // zero for none
}

func parseNICs(in []NIC) ([]nic, error) {
	out := make([]nic, 0, len(in))
	for _, n := range in {
		hw, err := net.ParseMAC(n.MAC)
		if err != nil || len(hw) != 6 {
			return nil, fmt.Errorf("seed: bad mac address %q", n.MAC)
		}
		x := nic{mac: hw.String()}
		for _, a := range n.Addrs {
			p, err := netip.ParsePrefix(a.CIDR)
			if err != nil {
				return nil, fmt.Errorf("seed: nic %s: %w", x.mac, err)
			}
			y := addr{prefix: p}
			if a.Gateway != "" {
				if y.gw, err = netip.ParseAddr(a.Gateway); err != nil {
					return nil, fmt.Errorf("seed: nic %s: gateway: %w", x.mac, err)
				}
				if y.gw.Is4() != p.Addr().Is4() {
					return nil, fmt.Errorf("seed: nic %s: gateway %s is not of the family of %s", x.mac, y.gw, p)
				}
			}
			x.addrs = append(x.addrs, y)
		}
		out = append(out, x)
	}
	return out, nil
}

// q quotes a string as a YAML double-quoted scalar: a JSON string is one.
func q(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

func metaData(instanceID, hostname string) []byte {
	return []byte("instance-id: " + q(instanceID) + "\nlocal-hostname: " + q(hostname) + "\n")
}

// userData is the #cloud-config of a real cloud-init guest.
func userData(fb FirstBoot, login string, keys []string) []byte {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	list := func(indent string, items []string) {
		for _, it := range items {
			w("%s- %s", indent, q(it))
		}
	}
	w("#cloud-config")
	w("hostname: %s", q(fb.Hostname))
	w("manage_etc_hosts: true")
	w("locale: %s", q("C.UTF-8"))
	w("disable_root: false")
	w("ssh_pwauth: %t", fb.Password != "")
	if len(keys) > 0 {
		w("ssh_authorized_keys:") // root's (disable_root is false) and the default user's
		list("  ", keys)
	}
	w("users:")
	w("  - default")
	if login != "" {
		w("  - name: %s", q(login))
		w("    shell: %s", q("/bin/bash"))
		w("    sudo: %s", q("ALL=(ALL) NOPASSWD:ALL"))
		w("    lock_passwd: %t", fb.Password == "")
		if len(keys) > 0 {
			w("    ssh_authorized_keys:")
			list("      ", keys)
		}
	}
	if fb.Password != "" {
		w("chpasswd:")
		w("  expire: false")
		w("  users:")
		for _, u := range []string{"root", login} {
			if u != "" {
				w("    - name: %s", q(u))
				w("      password: %s", q(fb.Password))
				w("      type: %s", q("text"))
			}
		}
	}
	if fb.Script != "" {
		w("write_files:")
		w("  - path: %s", q(ScriptPath))
		w("    owner: %s", q("root:root"))
		w("    permissions: %s", q("0700"))
		w("    encoding: %s", q("b64"))
		w("    content: %s", q(base64.StdEncoding.EncodeToString([]byte(fb.Script))))
	}
	if fb.Run != "" || fb.Script != "" {
		w("runcmd:")
		if fb.Run != "" {
			w("  - [%s, %s, %s]", q("sh"), q("-c"), q(fb.Run))
		}
		if fb.Script != "" {
			// sh runs a script without #! itself (execve's ENOEXEC fallback).
			cmd := ScriptPath
			if fb.ScriptArgs != "" {
				cmd += " " + fb.ScriptArgs
			}
			w("  - [%s, %s, %s]", q("sh"), q("-c"), q(cmd))
		}
	}
	return []byte(b.String())
}

// networkConfig is a cloud-init network config version 2. A NIC without addresses
// uses DHCP, as the tiny guest does. Only the first gateway of each family becomes a
// default route: two default routes of one family would make ifupdown fail.
func networkConfig(nics []nic) []byte {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("version: 2")
	if len(nics) == 0 {
		w("ethernets: {}")
		return []byte(b.String())
	}
	w("ethernets:")
	var gw4, gw6 bool
	for i, n := range nics {
		name := fmt.Sprintf("eth%d", i)
		w("  %s:", name)
		w("    match:")
		w("      macaddress: %s", q(n.mac))
		w("    set-name: %s", q(name))
		if len(n.addrs) == 0 {
			w("    dhcp4: true")
			continue
		}
		w("    addresses:")
		var routes []string
		for _, a := range n.addrs {
			w("      - %s", q(a.prefix.String()))
			switch {
			case !a.gw.IsValid():
			case a.gw.Is4() && !gw4:
				gw4 = true
				routes = append(routes, "0.0.0.0/0", a.gw.String())
			case a.gw.Is6() && !gw6:
				gw6 = true
				routes = append(routes, "::/0", a.gw.String())
			}
		}
		if len(routes) > 0 {
			w("    routes:")
			for j := 0; j < len(routes); j += 2 {
				w("      - to: %s", q(routes[j]))
				w("        via: %s", q(routes[j+1]))
			}
		}
	}
	return []byte(b.String())
}
