-- +goose Up
CREATE TABLE accounts (
  id            INTEGER PRIMARY KEY,
  handle        TEXT NOT NULL UNIQUE,
  fullname      TEXT NOT NULL DEFAULT '',
  key_hash      TEXT NOT NULL UNIQUE,
  credits_milli INTEGER NOT NULL DEFAULT 0,
  prepaid_cents INTEGER NOT NULL DEFAULT 0,
  billed_at     INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL
);

CREATE TABLE images (
  id             INTEGER PRIMARY KEY,
  label          TEXT NOT NULL,
  os_arch        TEXT NOT NULL,
  kernel_version TEXT NOT NULL,
  system         TEXT NOT NULL,
  version        TEXT NOT NULL,
  visibility     TEXT NOT NULL,
  datacenter_id  INTEGER NOT NULL,
  disk_id        INTEGER NOT NULL,
  author_id      INTEGER NOT NULL DEFAULT 0,
  size           INTEGER NOT NULL,
  date_created   INTEGER NOT NULL,
  date_updated   INTEGER NOT NULL,
  UNIQUE (label, datacenter_id)
);

CREATE TABLE vms (
  id            INTEGER PRIMARY KEY,
  account_id    INTEGER NOT NULL,
  datacenter_id INTEGER NOT NULL,
  hostname      TEXT NOT NULL,
  state         TEXT NOT NULL,
  memory        INTEGER NOT NULL,
  vm_max_memory INTEGER NOT NULL,
  cores         INTEGER NOT NULL,
  max_cores     INTEGER NOT NULL,
  console       INTEGER NOT NULL DEFAULT 0,
  ai_active     INTEGER NOT NULL DEFAULT 0,
  description   TEXT NOT NULL DEFAULT '',
  farm          TEXT NOT NULL DEFAULT 'default',
  entity_id     TEXT NOT NULL,
  host          TEXT NOT NULL DEFAULT '',
  boot_memory   INTEGER NOT NULL DEFAULT 0,
  date_created  INTEGER NOT NULL,
  date_updated  INTEGER NOT NULL
);
CREATE INDEX vms_account ON vms (account_id, id);
CREATE UNIQUE INDEX vms_hostname ON vms (account_id, hostname);

CREATE TABLE disks (
  id                  INTEGER PRIMARY KEY,
  account_id          INTEGER NOT NULL,
  datacenter_id       INTEGER NOT NULL,
  name                TEXT NOT NULL,
  size                INTEGER NOT NULL,
  state               TEXT NOT NULL,
  type                TEXT NOT NULL,
  visibility          TEXT NOT NULL,
  kernel_version      TEXT NOT NULL DEFAULT '',
  kernel_cmdline      TEXT NOT NULL DEFAULT '',
  label               TEXT NOT NULL DEFAULT '',
  source              INTEGER NOT NULL DEFAULT 0,
  vm_id               INTEGER NOT NULL DEFAULT 0,
  position            INTEGER NOT NULL DEFAULT 0,
  read_only           INTEGER NOT NULL DEFAULT 0,
  snapshot_profile_id INTEGER NOT NULL DEFAULT 0,
  entity_id           TEXT NOT NULL,
  host                TEXT NOT NULL DEFAULT '',
  date_created        INTEGER NOT NULL,
  date_updated        INTEGER NOT NULL
);
CREATE INDEX disks_account ON disks (account_id, id);
CREATE INDEX disks_vm ON disks (vm_id, position);
CREATE INDEX disks_source ON disks (source);

CREATE TABLE vlans (
  id            INTEGER PRIMARY KEY,
  account_id    INTEGER NOT NULL,
  datacenter_id INTEGER NOT NULL,
  name          TEXT NOT NULL,
  subnet        TEXT NOT NULL,
  gateway       TEXT NOT NULL DEFAULT '',
  state         TEXT NOT NULL,
  uuid          INTEGER NOT NULL,
  entity_id     TEXT NOT NULL,
  date_created  INTEGER NOT NULL,
  date_updated  INTEGER NOT NULL,
  UNIQUE (account_id, name)
);

CREATE TABLE ifaces (
  id            INTEGER PRIMARY KEY,
  account_id    INTEGER NOT NULL,
  datacenter_id INTEGER NOT NULL,
  num           INTEGER NOT NULL DEFAULT -1,
  type          TEXT NOT NULL,
  state         TEXT NOT NULL,
  bandwidth     REAL NOT NULL,
  vlan_id       INTEGER NOT NULL DEFAULT 0,
  vm_id         INTEGER NOT NULL DEFAULT 0,
  entity_id     TEXT NOT NULL,
  date_created  INTEGER NOT NULL,
  date_updated  INTEGER NOT NULL
);
CREATE INDEX ifaces_account ON ifaces (account_id, id);
CREATE INDEX ifaces_vm ON ifaces (vm_id, num);

CREATE TABLE ips (
  id            INTEGER PRIMARY KEY,
  account_id    INTEGER NOT NULL,
  datacenter_id INTEGER NOT NULL,
  iface_id      INTEGER NOT NULL,
  network       TEXT NOT NULL,
  ip            TEXT NOT NULL,
  version       INTEGER NOT NULL,
  num           INTEGER NOT NULL,
  reverse       TEXT NOT NULL DEFAULT '',
  state         TEXT NOT NULL,
  type          TEXT NOT NULL,
  entity_id     TEXT NOT NULL,
  date_created  INTEGER NOT NULL,
  date_updated  INTEGER NOT NULL,
  UNIQUE (network, ip)
);
CREATE INDEX ips_account ON ips (account_id, id);
CREATE INDEX ips_iface ON ips (iface_id, num);

CREATE TABLE ssh_keys (
  id          INTEGER PRIMARY KEY,
  account_id  INTEGER NOT NULL,
  name        TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  value       TEXT NOT NULL,
  date_created INTEGER NOT NULL,
  UNIQUE (account_id, name)
);

CREATE TABLE operations (
  id            INTEGER PRIMARY KEY,
  account_id    INTEGER NOT NULL,
  type          TEXT NOT NULL,
  step          TEXT NOT NULL,
  source        TEXT NOT NULL DEFAULT '',
  vm_id         INTEGER NOT NULL DEFAULT 0,
  disk_id       INTEGER NOT NULL DEFAULT 0,
  iface_id      INTEGER NOT NULL DEFAULT 0,
  ip_id         INTEGER NOT NULL DEFAULT 0,
  vlan_id       INTEGER NOT NULL DEFAULT 0,
  datacenter_id INTEGER NOT NULL DEFAULT 0,
  params        TEXT NOT NULL DEFAULT '{}',
  spec          TEXT NOT NULL DEFAULT '{}',
  last_error    TEXT NOT NULL DEFAULT '',
  eta           INTEGER NOT NULL DEFAULT 0,
  queue         TEXT NOT NULL DEFAULT '',
  date_created  INTEGER NOT NULL,
  date_updated  INTEGER NOT NULL,
  date_start    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX operations_account ON operations (account_id, id);
CREATE INDEX operations_pending ON operations (step, id);
CREATE INDEX operations_vm ON operations (vm_id, id);
CREATE INDEX operations_disk ON operations (disk_id, id);
CREATE INDEX operations_iface ON operations (iface_id, id);

-- +goose Down
DROP TABLE operations;
DROP TABLE ssh_keys;
DROP TABLE ips;
DROP TABLE ifaces;
DROP TABLE vlans;
DROP TABLE disks;
DROP TABLE vms;
DROP TABLE images;
DROP TABLE accounts;
