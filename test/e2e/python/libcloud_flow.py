#!/usr/bin/python3
"""A libcloud user flow against berthd, with Debian's python3-libcloud GandiNodeDriver.

Usage: libcloud_flow.py URL KEY

URL is berthd's /xmlrpc/ endpoint (libcloud's path is fixed at /xmlrpc/, so only the
host and port are used), KEY an API key of a fresh account with credits.

Pointing the driver at berthd (gandi-api.md §5): the constructor's host/port do not
reach GandiConnection, so the connection is re-aimed and reconnected by hand.

Operation polling: libcloud's _wait_operation polls operation.info and, while the step
is not DONE, sleeps DEFAULT_INTERVAL = 20 s (bound as a default argument, so changing
the module constant has no effect). berthd answers fast operations with DONE within a
few hundred ms (D7), but a poll made at once can still see WAIT or RUN. So this script
replaces the `time` name inside libcloud.common.gandi (only _wait_operation uses it)
with a shim whose sleep() records the 20 s libcloud asked for and sleeps 0.2 s instead.
The poll loop, its count and its decisions stay libcloud's own. The report lists, per
step, how many 20 s sleeps libcloud would have made.
"""

import base64
import hashlib
import ipaddress
import os
import struct
import sys
import time
import traceback
import types
import urllib.parse

import libcloud.common.gandi as lcgandi
from libcloud.common.gandi import GandiException
from libcloud.compute.base import KeyPair, Node, NodeImage, NodeLocation, NodeSize, StorageVolume
from libcloud.compute.drivers.gandi import GandiNodeDriver
from libcloud.compute.types import NodeState

SHIM_SLEEP = 0.2
STEP = ['start']
SLEEPS = {}   # step -> list of the intervals libcloud asked to sleep


def _recording_sleep(secs):
    SLEEPS.setdefault(STEP[0], []).append(secs)
    time.sleep(SHIM_SLEEP)


lcgandi.time = types.SimpleNamespace(sleep=_recording_sleep)


class Failure(Exception):
    """A failed check."""


def expect(cond, msg):
    if not cond:
        raise Failure(msg)


def ssh_public_key(comment):
    def sshstr(b):
        return struct.pack('>I', len(b)) + b
    blob = sshstr(b'ssh-ed25519') + sshstr(os.urandom(32))
    fp = ':'.join('%02x' % c for c in hashlib.md5(blob).digest())
    return 'ssh-ed25519 %s %s' % (base64.b64encode(blob).decode(), comment), fp


class Flow:
    def __init__(self, url, key):
        u = urllib.parse.urlsplit(url)
        expect(u.path.rstrip('/') == '/xmlrpc', 'URL path %r: libcloud only speaks to /xmlrpc/' % u.path)
        d = GandiNodeDriver(key, secure=False)
        d.connection.host = u.hostname
        d.connection.port = u.port
        d.connection.connect()
        self.d = d
        self.timings = []

    def raw(self, method, *args):
        """A direct call through libcloud's own connection (to look behind the driver)."""
        return self.d.connection.request(method, *args).object

    def run(self, name, fn):
        STEP[0] = name
        t0 = time.monotonic()
        fn()
        self.timings.append((name, time.monotonic() - t0))

    def catalog(self):
        d = self.d
        locs = d.list_locations()
        expect(locs and all(isinstance(l, NodeLocation) for l in locs), 'list_locations %r' % locs)
        for l in locs:
            expect(str(l.id).isdigit() and l.name and l.country, 'location %r' % l)
        self.loc = None
        for l in locs:
            if d.list_images(location=l):
                self.loc = l
                break
        expect(self.loc, 'no location has images')
        imgs = d.list_images(location=self.loc)
        expect(all(isinstance(i, NodeImage) and str(i.id).isdigit() and i.name for i in imgs), 'list_images %r' % imgs)
        self.image = imgs[0]
        all_imgs = d.list_images()
        expect({i.id for i in imgs} <= {i.id for i in all_imgs}, 'list_images() misses images of %s' % self.loc.name)
        sizes = d.list_sizes()
        expect(sizes and all(isinstance(s, NodeSize) for s in sizes), 'list_sizes %r (rating_enabled?)' % sizes)
        expect({s.id for s in sizes} == {'small', 'medium', 'large', 'x-large'}, 'sizes %r' % [s.id for s in sizes])
        self.size = [s for s in sizes if s.id == 'small'][0]
        expect(d.list_nodes() == [], 'list_nodes on a new account: %r' % d.list_nodes())
        expect(d.list_volumes() == [], 'list_volumes on a new account')

    def keys(self):
        d = self.d
        value, fp = ssh_public_key('libcloud@berth')
        kp = d.import_key_pair_from_string('lckey', value)
        expect(isinstance(kp, KeyPair) and kp.name == 'lckey' and kp.public_key == value, 'imported %r' % kp)
        expect(kp.fingerprint == fp, 'fingerprint %r, want %r' % (kp.fingerprint, fp))
        expect(type(kp.extra['id']) is int, 'key id %r' % kp.extra)
        lst = d.list_key_pairs()
        expect([k.name for k in lst] == ['lckey'] and lst[0].fingerprint == fp, 'list_key_pairs %r' % lst)
        got = d.get_key_pair('lckey')
        expect(got.extra['id'] == kp.extra['id'] and got.fingerprint == fp, 'get_key_pair %r' % got)
        other, _ = ssh_public_key('spare')
        spare = d.import_key_pair_from_string('spare', other)
        expect(d.delete_key_pair(spare) is True, 'delete_key_pair must return True')
        expect([k.name for k in d.list_key_pairs()] == ['lckey'], 'after delete_key_pair')
        self.kp = kp

    def create(self):
        d = self.d
        node = d.create_node(name='lcnode1', size=self.size, image=self.image, location=self.loc,
                             login='admin', password='libcloud-pw-1', keypairs=[self.kp])
        expect(isinstance(node, Node), 'create_node returned %r' % node)
        expect(node.name == 'lcnode1' and node.state == NodeState.RUNNING, 'node %r state %r' % (node, node.state))
        expect(node.extra['datacenter_id'] == int(self.loc.id) and node.extra['ai_active'] == 0, 'node.extra %r' % node.extra)
        vm = self.raw('hosting.vm.info', int(node.id))
        expect(vm['memory'] == self.size.ram and vm['cores'] == 1, 'vm %r' % vm)
        expect(vm['ifaces'][0]['bandwidth'] == float(self.size.bandwidth), 'bandwidth %r' % vm['ifaces'][0]['bandwidth'])
        expect(vm['disks'][0]['name'] == 'disk_lcnode1' and vm['disks'][0]['source'] == int(self.image.id),
               'system disk %r' % vm['disks'][0])
        self.node = node

        nodes = d.list_nodes()
        expect([n.id for n in nodes] == [node.id], 'list_nodes %r' % nodes)
        ips = nodes[0].public_ips
        versions = sorted(ipaddress.ip_address(i).version for i in ips)
        expect(versions == [4, 6], 'public_ips %r' % ips)
        expect(nodes[0].state == NodeState.RUNNING, 'listed state %r' % nodes[0].state)
        got = d.ex_get_node(node.id)
        expect(got.id == node.id and got.public_ips == ips, 'ex_get_node %r %r' % (got, got.public_ips))

    def reboot(self):
        expect(self.d.reboot_node(self.node) is True, 'reboot_node failed')

    def volumes(self):
        d = self.d
        vol = d.create_volume(size=1024, name='lcvol', location=self.loc)
        expect(isinstance(vol, StorageVolume) and vol.name == 'lcvol' and vol.size == 1024, 'create_volume %r' % vol)
        expect(vol.extra['can_snapshot'] is True, 'volume extra %r' % vol.extra)
        expect(d.attach_volume(self.node, vol) is True, 'attach_volume failed')
        expect(self.raw('hosting.disk.info', int(vol.id))['vms_id'] == [int(self.node.id)], 'vms_id after attach')

        disks = {str(x.id): x for x in d.ex_list_disks()}
        expect(str(vol.id) in disks, 'ex_list_disks %r' % disks)
        expect(d.ex_snapshot_disk(disks[str(vol.id)], 'lcsnap') is True, 'ex_snapshot_disk failed')
        snaps = [x for x in d.ex_list_disks() if x.name == 'lcsnap']
        expect(len(snaps) == 1 and snaps[0].extra['can_snapshot'] is False, 'snapshot %r' % snaps)
        try:
            d.ex_snapshot_disk(snaps[0], 'snapsnap')
            raise Failure('a snapshot of a snapshot was accepted')
        except GandiException:
            pass
        expect(d.ex_update_disk(disks[str(vol.id)], new_size=2048) is True, 'ex_update_disk failed')
        expect(d.ex_get_volume(int(vol.id)).size == 2048, 'size after ex_update_disk')

        expect(d.detach_volume(self.node, vol) is True, 'detach_volume failed')
        expect(self.raw('hosting.disk.info', int(vol.id))['vms_id'] == [], 'vms_id after detach')
        expect(d.destroy_volume(vol) is True, 'destroy_volume failed')
        snap_vol = [v for v in d.list_volumes() if v.name == 'lcsnap']
        expect(len(snap_vol) == 1 and d.destroy_volume(snap_vol[0]) is True, 'destroy the snapshot')
        names = sorted(v.name for v in d.list_volumes())
        expect(names == ['disk_lcnode1'], 'volumes left %r' % names)

    def interfaces(self):
        ifs = self.d.ex_list_interfaces()
        expect(len(ifs) == 1, 'ex_list_interfaces %r' % ifs)
        f = ifs[0]
        expect(f.node_id == int(self.node.id) and type(f.extra['bandwidth']) is float, 'iface %r %r' % (f.node_id, f.extra))
        expect(sorted(ip.version for ip in f.ips) == [4, 6], 'iface ips %r' % f.ips)
        expect(all(ip.inet and ip.extra['reverse'] for ip in f.ips), 'ips %r' % [(i.inet, i.extra) for i in f.ips])

    def destroy(self):
        d = self.d
        expect(d.destroy_node(self.node) is True, 'destroy_node failed')
        expect(d.list_nodes() == [], 'list_nodes after destroy %r' % d.list_nodes())
        expect(d.list_volumes() == [], 'the boot disk must go with the node: %r' % d.list_volumes())
        expect(d.ex_list_interfaces() == [], 'the first iface must go with the node')
        expect(d.delete_key_pair(self.kp) is True, 'delete_key_pair')
        expect(d.list_key_pairs() == [], 'keys left')
        try:
            d.ex_get_node(self.node.id)
            raise Failure('ex_get_node of a destroyed node succeeded')
        except Exception as e:   # libcloud wraps the fault; its text must carry the code
            expect('530142' in str(e), 'ex_get_node of a destroyed node: %r' % e)

    def main(self):
        for name in ('catalog', 'keys', 'create', 'reboot', 'volumes', 'interfaces', 'destroy'):
            self.run(name, getattr(self, name))


def main():
    if len(sys.argv) != 3:
        print('usage: libcloud_flow.py URL KEY', file=sys.stderr)
        return 2
    t0 = time.monotonic()
    failed = None
    flow = None
    try:
        flow = Flow(sys.argv[1], sys.argv[2])
        flow.main()
    except Failure as e:
        failed = 'FAIL in step %s: %s' % (STEP[0], e)
    except Exception:
        failed = 'FAIL in step %s: unexpected exception:\n%s' % (STEP[0], traceback.format_exc())
    total = 0
    for name, secs in (flow.timings if flow else []):
        n = len(SLEEPS.get(name, []))
        total += sum(SLEEPS.get(name, []))
        print('%-12s %6.2f s   libcloud sleeps: %d' % (name, secs, n))
    print('libcloud would have slept %d s in all (each sleep made %.1f s here)' % (total, SHIM_SLEEP))
    if failed:
        print(failed)
        return 1
    print('OK: %.2f s' % (time.monotonic() - t0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
