package seed

// FirstBoot is what a new VM's guest receives at its first boot.
type FirstBoot struct {
	Hostname   string   `json:"hostname"`
	Password   string   `json:"password,omitempty"`
	Login      string   `json:"login,omitempty"`
	SSHKeys    []string `json:"ssh_keys,omitempty"`
	Run        string   `json:"run,omitempty"`
	Script     string   `json:"script,omitempty"`
	ScriptArgs string   `json:"script_args,omitempty"`
}

// NIC is one NIC's addresses in the first-boot data.
type NIC struct {
	MAC   string
	Addrs []Addr
}

// Addr is one address of a NIC with its prefix length and gateway.
type Addr struct {
	CIDR    string // e.g. 192.0.2.10/24
	Gateway string // "" for none
}
