#!/usr/bin/python3
"""A whole Gandi Hosting API user flow against berthd, with Python's xmlrpc.client.

Usage: gandi_flow.py URL KEY

URL is berthd's /xmlrpc/ endpoint, KEY an API key of a fresh account with credits.
The proxy is set up like gandi.cli's (allow_none=True, use_datetime=True), so a date in
any format other than YYYYMMDDTHH:MM:SS fails while decoding. Operations are polled
with operation.info like gandi.cli does (every 0.2 s here instead of 1 s).

Every check raises Failure with a message naming the step; the script then prints
FAIL and exits 1. On success it prints one line per step with its duration, then OK.
"""

import base64
import datetime
import hashlib
import ipaddress
import os
import re
import struct
import sys
import time
import traceback
import xmlrpc.client

POLL = 0.2          # seconds between two operation.info calls
OP_TIMEOUT = 30     # seconds an operation may take on the sim backend
NON_TERMINAL = ('BILL', 'WAIT', 'RUN')
DT = datetime.datetime
NONE = type(None)


class Failure(Exception):
    """A failed check."""


def expect(cond, msg):
    if not cond:
        raise Failure(msg)


def type_ok(v, t):
    """Strict typing: bool is not an int, int is not a float."""
    ts = t if isinstance(t, tuple) else (t,)
    return any(type(v) is x for x in ts)


def tname(t):
    ts = t if isinstance(t, tuple) else (t,)
    return '|'.join('nil' if x is NONE else x.__name__ for x in ts)


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def check_shape(where, d, spec, exact=False):
    """d must be a dict holding every key of spec with a value of the given type(s)."""
    expect(type(d) is dict, '%s: want a struct, got %s %r' % (where, type(d).__name__, d))
    for k, t in spec.items():
        expect(k in d, '%s: missing member %r (has %s)' % (where, k, sorted(d)))
        expect(type_ok(d[k], t), '%s: member %r is %s %r, want %s' % (where, k, type(d[k]).__name__, d[k], tname(t)))
        if type(d[k]) is DT:
            # D3: UTC (rating timestamps are whole hours), and use_datetime=True already
            # proved the format.
            skew = abs((now_utc() - d[k]).total_seconds())
            expect(skew < 3700, '%s: %s = %s is %d s away from UTC now' % (where, k, d[k], skew))
    if exact:
        extra = set(d) - set(spec)
        expect(not extra, '%s: unexpected members %s' % (where, sorted(extra)))


def check_ids(where, lst):
    expect(type(lst) is list, '%s: want an array, got %r' % (where, lst))
    for x in lst:
        expect(type(x) is int, '%s: element %r is %s, want int' % (where, x, type(x).__name__))


DC_SHAPE = {'id': int, 'iso': str, 'name': str, 'country': str, 'dc_code': str, 'can_migrate_to': list,
            'deactivate_at': (DT, NONE), 'iaas_closed_for': str, 'paas_closed_for': str}
IMAGE_SHAPE = {'id': int, 'disk_id': int, 'datacenter_id': int, 'author_id': int, 'label': str, 'os_arch': str,
               'kernel_version': str, 'size': int, 'system': str, 'version': str, 'visibility': str,
               'date_created': (DT, NONE), 'date_updated': DT}
VM_SHAPE = {'id': int, 'hostname': str, 'datacenter_id': int, 'state': str, 'memory': int, 'vm_max_memory': int,
            'cores': int, 'flex_shares': int, 'ai_active': int, 'console': int, 'description': (str, NONE),
            'farm': str, 'is_migrating': bool, 'disks_id': list, 'ifaces_id': list, 'entity_id': str,
            'date_created': DT, 'date_updated': DT}
VM_INFO_SHAPE = dict(VM_SHAPE, console_url=str, disks=list, ifaces=list, graph_urls=dict, hvm_state=str,
                     probes=list, triggers=list)
DISK_SHAPE = {'id': int, 'name': str, 'datacenter_id': int, 'size': int, 'total_size': int, 'state': str,
              'type': str, 'visibility': str, 'is_boot_disk': bool, 'can_snapshot': bool, 'is_migrating': bool,
              'kernel_version': (str, NONE), 'label': (str, NONE), 'source': (int, NONE),
              'snapshot_profile_id': (int, NONE), 'snapshots_id': list, 'vms_id': list, 'entity_id': str,
              'date_created': DT, 'date_updated': DT}
SNAPSHOT_PROFILE_SHAPE = {'id': int, 'name': str, 'kept_total': int, 'quota_factor': float, 'schedules': list}
DISK_INFO_SHAPE = dict(DISK_SHAPE, kernel_cmdline=(dict, NONE), datacenter=dict)
IFACE_SHAPE = {'id': int, 'num': (int, NONE), 'type': str, 'state': str, 'bandwidth': float, 'datacenter_id': int,
               'vlan': (dict, NONE), 'vm_id': (int, NONE), 'ips_id': list, 'date_created': DT, 'date_updated': DT}
IFACE_INFO_SHAPE = dict(IFACE_SHAPE, ips=list, datacenter=dict)
IP_SHAPE = {'id': int, 'ip': (str, NONE), 'version': int, 'num': int, 'iface_id': int, 'iface_num': (int, NONE),
            'reverse': (str, NONE), 'state': str, 'type': str, 'bandwidth': float, 'datacenter_id': int,
            'vm_id': (int, NONE), 'date_created': DT, 'date_updated': DT}
IP_INFO_SHAPE = dict(IP_SHAPE, datacenter=dict)
VLAN_SHAPE = {'id': int, 'name': str, 'datacenter_id': int, 'gateway': (str, NONE), 'subnet': str, 'state': str,
              'uuid': int}
VLAN_INFO_SHAPE = dict(VLAN_SHAPE, datacenter=dict)
SSH_SHAPE = {'id': int, 'name': str, 'fingerprint': str}
OP_SHORT_SHAPE = {'id': int, 'type': str, 'step': str, 'source': str, 'date_created': DT, 'date_updated': DT,
                  'date_start': (DT, NONE), 'vm_id': (int, NONE), 'disk_id': (int, NONE), 'iface_id': (int, NONE),
                  'ip_id': (int, NONE)}
OP_FULL_SHAPE = dict(OP_SHORT_SHAPE, eta=int, errortype=(str, NONE), last_error=(str, NONE),
                     last_support_error=(str, NONE), session_id=(str, NONE), infos=dict, params=dict)


def ssh_public_key(comment):
    """A syntactically valid ed25519 public key line and its MD5 fingerprint."""
    def sshstr(b):
        return struct.pack('>I', len(b)) + b
    blob = sshstr(b'ssh-ed25519') + sshstr(os.urandom(32))
    fp = ':'.join('%02x' % c for c in hashlib.md5(blob).digest())
    return 'ssh-ed25519 %s %s' % (base64.b64encode(blob).decode(), comment), fp


class Flow:
    def __init__(self, url, key):
        self.url, self.key = url, key
        self.s = xmlrpc.client.ServerProxy(url, allow_none=True, use_datetime=True)
        self.step = 'start'
        self.timings = []
        self.ops_done = 0

    # --- helpers -------------------------------------------------------------------------

    def call(self, method, *args):
        fn = self.s
        for part in method.split('.'):
            fn = getattr(fn, part)
        try:
            return fn(self.key, *args)
        except xmlrpc.client.Fault as f:
            raise Failure('%s%r: unexpected fault %d: %s' % (method, args, f.faultCode, f.faultString))

    def fault(self, code, method, *args, key=None, proxy=None):
        fn = proxy or self.s
        for part in method.split('.'):
            fn = getattr(fn, part)
        try:
            got = fn(self.key if key is None else key, *args)
        except xmlrpc.client.Fault as f:
            expect(type(f.faultCode) is int, '%s: faultCode is %s, want int' % (method, type(f.faultCode).__name__))
            expect(f.faultCode == code, '%s%r: faultCode %d (%s), want %d' % (method, args, f.faultCode, f.faultString, code))
            expect(type(f.faultString) is str and f.faultString, '%s: empty faultString' % method)
            return f
        raise Failure('%s%r: returned %r, want fault %d' % (method, args, got, code))

    def check_op(self, where, op, typ=None):
        check_shape(where, op, OP_SHORT_SHAPE, exact=True)   # the short form (§2.1)
        expect(op['step'] in NON_TERMINAL + ('DONE',), '%s: step %r' % (where, op['step']))
        expect(op['source'] == self.handle, '%s: source %r, want %r' % (where, op['source'], self.handle))
        if typ:
            expect(op['type'] == typ, '%s: type %r, want %r' % (where, op['type'], typ))

    def wait(self, op, what=''):
        """Poll operation.info like gandi.cli until DONE; any other terminal step fails."""
        deadline = time.monotonic() + OP_TIMEOUT
        while True:
            info = self.call('operation.info', op['id'])
            check_shape('operation.info(%d)' % op['id'], info, OP_FULL_SHAPE)
            expect(info['id'] == op['id'] and info['type'] == op['type'],
                   'operation.info(%d): id/type %r/%r' % (op['id'], info['id'], info['type']))
            expect(info['source'] == self.handle, 'operation.info(%d): source %r, want the handle %r'
                   % (op['id'], info['source'], self.handle))
            step = info['step']
            if step == 'DONE':
                expect(type(info['date_start']) is DT and info['last_error'] is None,
                       'operation %d DONE with date_start %r, last_error %r' % (op['id'], info['date_start'], info['last_error']))
                self.ops_done += 1
                return info
            expect(step in NON_TERMINAL, '%s: operation %d (%s) ended in step %s: %s'
                   % (what, op['id'], op['type'], step, info['last_error']))
            expect(time.monotonic() < deadline, '%s: operation %d (%s) still %s after %d s'
                   % (what, op['id'], op['type'], step, OP_TIMEOUT))
            time.sleep(POLL)

    def run(self, name, fn):
        self.step = name
        t0 = time.monotonic()
        fn()
        self.timings.append((name, time.monotonic() - t0))

    # --- steps ---------------------------------------------------------------------------

    def basics(self):
        v = self.call('version.info')
        check_shape('version.info', v, {'api_version': str})
        expect(re.match(r'^\d+\.\d+\.\d+$', v['api_version']), 'api_version %r' % v['api_version'])

        a = self.call('hosting.account.info')
        check_shape('account.info', a, {'id': int, 'handle': str, 'fullname': str, 'credits': int,
                                        'rating_enabled': bool, 'resources': dict, 'products': (list, NONE),
                                        'average_credit_cost': (float, NONE),
                                        'date_credits_expiration': (DT, NONE), 'cycle_day': int})
        expect(a['rating_enabled'] is True, 'rating_enabled %r' % a['rating_enabled'])
        expect(a['credits'] > 0, 'credits %r' % a['credits'])
        self.handle, self.credits0 = a['handle'], a['credits']

        r = self.call('hosting.rating.list')
        expect(type(r) is list and r, 'rating.list %r' % r)
        last = r[-1]
        check_shape('rating.list[-1]', last, {'timestamp': DT, 'cpu': dict, 'ram': dict, 'disk_data': dict,
                                              'ip': dict, 'instance': dict})
        hourly = 0
        for k, entry in last.items():   # gandi.cli sums every int of the dict-valued entries
            if type(entry) is dict:
                for kk, n in entry.items():
                    expect(type(n) is int, 'rating.list %s.%s is %r, want int' % (k, kk, n))
                    hourly += n
        expect(hourly > 0, 'rating.list sums to %d credits/hour' % hourly)

        bal = self.call('contact.balance')
        check_shape('contact.balance', bal, {'handle': str, 'id': int, 'prepaid': dict})
        check_shape('contact.balance prepaid', bal['prepaid'], {'amount': str, 'currency': str})
        expect(re.match(r'^-?\d+\.\d\d$', bal['prepaid']['amount']), 'amount %r' % bal['prepaid']['amount'])
        expect(bal['handle'] == self.handle and bal['id'] == a['id'], 'contact.balance is %r' % bal)

    def datacenters(self):
        dcs = self.call('hosting.datacenter.list')
        expect(type(dcs) is list and dcs, 'datacenter.list() %r' % dcs)
        for d in dcs:
            check_shape('datacenter.list()', d, DC_SHAPE, exact=True)
            check_ids('can_migrate_to', d['can_migrate_to'])
            expect(d['iaas_closed_for'] in ('NONE', 'NEW', 'ALL'), 'iaas_closed_for %r' % d['iaas_closed_for'])
        expect(self.call('hosting.datacenter.list', {}) == dcs, 'datacenter.list({}) differs from datacenter.list()')
        ids = [d['id'] for d in self.call('hosting.datacenter.list', {'sort_by': 'id ASC'})]
        expect(ids == sorted(ids), 'sort_by id ASC gives %r' % ids)
        open_dcs = [d for d in dcs if d['iaas_closed_for'] == 'NONE']
        expect(open_dcs, 'no datacenter open for IaaS')
        self.dc = open_dcs[0]
        self.dc_id = self.dc['id']
        got = self.call('hosting.datacenter.list', {'dc_code': self.dc['dc_code']})
        expect([d['id'] for d in got] == [self.dc_id], 'dc_code %s gives %r' % (self.dc['dc_code'], got))
        got = self.call('hosting.datacenter.list', {'iso': self.dc['iso']})
        expect(got and all(d['iso'] == self.dc['iso'] for d in got) and self.dc_id in [d['id'] for d in got],
               'iso %s gives %r' % (self.dc['iso'], got))
        expect(len(got) == len([d for d in dcs if d['iso'] == self.dc['iso']]), 'iso filter count')
        expect(self.call('hosting.datacenter.list', {'dc_code': 'XX-NOPE9'}) == [], 'unknown dc_code must give []')

    def images(self):
        ims = self.call('hosting.image.list', {'datacenter_id': self.dc_id})
        expect(type(ims) is list and ims, 'image.list(dc %d) is %r' % (self.dc_id, ims))
        for im in ims:
            check_shape('image.list', im, IMAGE_SHAPE)
            expect(im['datacenter_id'] == self.dc_id, 'image %d in dc %d' % (im['id'], im['datacenter_id']))
            expect('datacenter' not in im, 'image.list elements carry datacenter_id only (D4)')
        self.image = ims[0]
        info = self.call('hosting.image.info', self.image['id'])
        check_shape('image.info', info, dict(IMAGE_SHAPE, datacenter=dict))
        expect(info['datacenter']['id'] == self.dc_id, 'image.info datacenter %r' % info['datacenter'])
        lab = self.call('hosting.image.list', {'label': self.image['label'], 'datacenter_id': self.dc_id})
        expect([i['id'] for i in lab] == [self.image['id']], 'image label filter gives %r' % lab)

    def ssh_keys(self):
        value, fp = ssh_public_key('flow@berth')
        k = self.call('hosting.ssh.create', {'name': 'flowkey', 'value': value})
        check_shape('ssh.create', k, dict(SSH_SHAPE, value=str))
        expect(k['fingerprint'] == fp, 'fingerprint %r, want %r' % (k['fingerprint'], fp))
        expect(k['value'] == value and k['name'] == 'flowkey', 'ssh.create returned %r' % k)
        self.key_id = k['id']
        lst = self.call('hosting.ssh.list')
        expect(len(lst) == 1, 'ssh.list %r' % lst)
        check_shape('ssh.list', lst[0], SSH_SHAPE)
        expect('value' not in lst[0], 'ssh.list must not return value')
        expect(self.call('hosting.ssh.list', {'name': 'flowkey'})[0]['id'] == self.key_id, 'ssh.list by name')
        expect(self.call('hosting.ssh.list', {'name': 'nope'}) == [], 'ssh.list by unknown name')
        info = self.call('hosting.ssh.info', self.key_id)
        check_shape('ssh.info', info, dict(SSH_SHAPE, value=str))
        expect(info['value'] == value, 'ssh.info value')
        expect(self.call('hosting.ssh.count') == 1, 'ssh.count')
        # A second key, deleted again: ssh.delete answers boolean 1.
        v2, _ = ssh_public_key('other')
        k2 = self.call('hosting.ssh.create', {'name': 'other', 'value': v2})
        d = self.call('hosting.ssh.delete', k2['id'])
        expect(d is True, 'ssh.delete returned %r, want True' % d)
        self.fault(530642, 'hosting.ssh.info', k2['id'])

    def create_vm(self):
        src = self.image['disk_id']
        vm_spec = {'datacenter_id': self.dc_id, 'hostname': 'flow1', 'memory': 256, 'cores': 1, 'ip_version': 4,
                   'keys': [self.key_id], 'password': 'flow-secret-42'}
        disk_spec = {'name': 'flow1sys', 'size': max(4096, self.image['size'])}
        self.sys_size = disk_spec['size']
        ops = self.call('hosting.vm.create_from', vm_spec, disk_spec, src)
        expect(type(ops) is list and len(ops) == 3, 'vm.create_from returned %d ops, want 3: %r' % (len(ops), ops))
        expect([o['type'] for o in ops] == ['disk_create', 'iface_create', 'vm_create'],
               'op types %r' % [o['type'] for o in ops])
        for o in ops:
            self.check_op('vm.create_from ' + o['type'], o)
        vm_ids = {o['vm_id'] for o in ops}
        expect(len(vm_ids) == 1 and None not in vm_ids, 'vm_id of the 3 ops: %r' % [o['vm_id'] for o in ops])
        self.vm_id = ops[2]['vm_id']
        expect(ops[0]['disk_id'], 'disk_create op has no disk_id')
        expect(ops[1]['iface_id'] and ops[1]['ip_id'], 'iface_create op lacks iface_id/ip_id: %r' % ops[1])
        self.sys_disk, self.iface0 = ops[0]['disk_id'], ops[1]['iface_id']

        # vm.info right away (the "VMCreate" script and HackTechDev do this).
        vm = self.call('hosting.vm.info', self.vm_id)
        check_shape('vm.info (being created)', vm, VM_INFO_SHAPE)
        expect(vm['state'] in ('being_created', 'running'), 'state right after create_from: %r' % vm['state'])
        expect(vm['hostname'] == 'flow1' and vm['memory'] == 256 and vm['cores'] == 1, 'vm.info %r' % vm)

        for o in ops:
            self.wait(o, 'vm.create_from')
        vm = self.call('hosting.vm.info', self.vm_id)
        self.check_vm_info(vm)
        expect(vm['state'] == 'running', 'state after vm_create DONE: %r' % vm['state'])
        expect(vm['hvm_state'] == 'running', 'hvm_state %r' % vm['hvm_state'])
        expect(vm['vm_max_memory'] == 2048, 'vm_max_memory %r, want 2048 (D13)' % vm['vm_max_memory'])
        expect(vm['disks_id'] == [self.sys_disk], 'disks_id %r' % vm['disks_id'])
        expect(vm['ifaces_id'] == [self.iface0], 'ifaces_id %r' % vm['ifaces_id'])
        d0 = vm['disks'][0]
        expect(d0['is_boot_disk'] is True, 'disks[0].is_boot_disk %r' % d0['is_boot_disk'])
        expect(d0['size'] == self.sys_size and d0['source'] == src and d0['label'] == self.image['label'],
               'system disk %r' % d0)
        expect(d0['state'] == 'created' and d0['vms_id'] == [self.vm_id], 'system disk state/vms_id %r' % d0)
        f0 = vm['ifaces'][0]
        expect(f0['num'] == 0 and f0['state'] == 'used' and f0['vm_id'] == self.vm_id and f0['type'] == 'public',
               'ifaces[0] %r' % f0)
        ips = f0['ips']
        expect(len(ips) == 2, 'ifaces[0].ips %r' % ips)
        expect(ips[0]['version'] == 4 and ipaddress.ip_address(ips[0]['ip']).version == 4, 'ips[0] %r' % ips[0])
        expect(ips[1]['version'] == 6 and ipaddress.ip_address(ips[1]['ip']).version == 6, 'ips[1] %r' % ips[1])
        expect(ips[0]['num'] == 0 and ips[1]['num'] == 1, 'ip nums %r' % [i['num'] for i in ips])
        expect(all(i['state'] == 'created' and i['vm_id'] == self.vm_id for i in ips), 'ips %r' % ips)
        expect(vm['datacenter_id'] == self.dc_id and 'datacenter' not in vm,
               'vm.info carries datacenter_id only (D4): %r' % vm.get('datacenter'))
        self.ipv4_id, self.ipv4 = ips[0]['id'], ips[0]['ip']

    def check_vm_info(self, vm):
        check_shape('vm.info', vm, VM_INFO_SHAPE)
        check_ids('vm.info disks_id', vm['disks_id'])
        check_ids('vm.info ifaces_id', vm['ifaces_id'])
        expect('datacenter' not in vm, 'vm.info has no nested datacenter (D4)')
        expect([d['id'] for d in vm['disks']] == vm['disks_id'], 'disks %r vs disks_id %r'
               % ([d['id'] for d in vm['disks']], vm['disks_id']))
        expect([f['id'] for f in vm['ifaces']] == vm['ifaces_id'], 'ifaces vs ifaces_id')
        for i, d in enumerate(vm['disks']):
            check_shape('vm.info disks[%d]' % i, d, DISK_SHAPE)
            expect(d['is_boot_disk'] is (i == 0), 'disks[%d].is_boot_disk %r' % (i, d['is_boot_disk']))
        for i, f in enumerate(vm['ifaces']):
            check_shape('vm.info ifaces[%d]' % i, f, dict(IFACE_SHAPE, ips=list))
            check_ids('ips_id', f['ips_id'])
            expect(f['num'] == i, 'ifaces[%d].num %r' % (i, f['num']))
            for ip in f['ips']:
                check_shape('vm.info ifaces[%d].ips' % i, ip, IP_SHAPE)

    def private_vm(self):
        """A VLAN, a free private iface on it, and a VM created on that iface: 2 ops (D1)."""
        op = self.call('hosting.vlan.create', {'datacenter_id': self.dc_id, 'name': 'flowvlan',
                                              'subnet': '192.168.42.0/24', 'gateway': '192.168.42.1'})
        check_shape('vlan.create', op, OP_FULL_SHAPE)     # vlan.* return the full form
        expect(op['type'] == 'vlan_create', 'vlan.create type %r' % op['type'])
        done = self.wait(op, 'vlan.create')
        self.vlan_id = done['params'].get('vlan_id')
        expect(type(self.vlan_id) is int, 'vlan_create params.vlan_id %r (params %r)' % (self.vlan_id, done['params']))
        expect(done['params'].get('datacenter_id') == self.dc_id, 'vlan_create params %r' % done['params'])

        lst = self.call('hosting.vlan.list')
        expect([v['id'] for v in lst] == [self.vlan_id], 'vlan.list %r' % lst)
        check_shape('vlan.list', lst[0], VLAN_SHAPE)
        expect(lst[0]['subnet'] == '192.168.42.0/24' and lst[0]['gateway'] == '192.168.42.1'
               and lst[0]['state'] == 'created', 'vlan %r' % lst[0])
        expect(self.call('hosting.vlan.list', {'datacenter_id': self.dc_id}) == lst, 'vlan.list by datacenter_id')
        expect(self.call('hosting.vlan.list', {'name': 'nope'}) == [], 'vlan.list by unknown name')
        info = self.call('hosting.vlan.info', self.vlan_id)
        check_shape('vlan.info', info, VLAN_INFO_SHAPE)
        check_shape('vlan.info datacenter', info['datacenter'], DC_SHAPE)
        expect(info['datacenter']['id'] == self.dc_id == info['datacenter_id'], 'vlan.info datacenter')
        expect(self.call('hosting.vlan.count') == 1, 'vlan.count')

        op = self.call('hosting.iface.create', {'datacenter_id': self.dc_id, 'vlan': self.vlan_id, 'bandwidth': 204800})
        self.check_op('iface.create (private)', op, 'iface_create')
        expect(op['iface_id'] and op['ip_id'], 'iface_create lacks iface_id/ip_id: %r' % op)
        self.wait(op, 'iface.create private')
        priv = op['iface_id']
        f = self.call('hosting.iface.info', priv)
        check_shape('iface.info (private)', f, IFACE_INFO_SHAPE)
        expect(f['type'] == 'private' and f['state'] == 'free' and f['vm_id'] is None and f['num'] is None,
               'private iface %r' % f)
        expect(f['bandwidth'] == 204800.0, 'bandwidth %r' % f['bandwidth'])
        expect(type(f['vlan']) is dict and f['vlan'].get('id') == self.vlan_id and f['vlan'].get('name') == 'flowvlan',
               'iface vlan %r' % f['vlan'])
        expect(len(f['ips']) == 1 and f['ips'][0]['version'] == 4, 'private ips %r' % f['ips'])
        expect(ipaddress.ip_address(f['ips'][0]['ip']) in ipaddress.ip_network('192.168.42.0/24'),
               'private ip %r' % f['ips'][0]['ip'])
        expect(f['ips'][0]['ip'] != '192.168.42.1', 'the gateway was handed out')
        free = self.call('hosting.iface.list', {'state': 'free', 'type': 'private'})
        expect([x['id'] for x in free] == [priv], 'iface.list free private %r' % free)
        expect([x['id'] for x in self.call('hosting.iface.list', {'vlan': 'flowvlan'})] == [priv], 'iface.list by vlan name')

        ops = self.call('hosting.vm.create_from',
                        {'datacenter_id': self.dc_id, 'hostname': 'flow2', 'memory': 256, 'iface_id': priv,
                         'password': 'flow-secret-42'},
                        {'name': 'flow2sys'}, self.image['disk_id'])
        expect(type(ops) is list and len(ops) == 2, 'vm.create_from with iface_id: %d ops, want 2: %r' % (len(ops), ops))
        expect([o['type'] for o in ops] == ['disk_create', 'vm_create'], 'op types %r' % [o['type'] for o in ops])
        for o in ops:
            self.check_op('vm.create_from(iface_id)', o)
            self.wait(o, 'vm.create_from(iface_id)')
        self.vm2 = ops[1]['vm_id']
        vm = self.call('hosting.vm.info', self.vm2)
        self.check_vm_info(vm)
        expect(vm['state'] == 'running' and vm['ifaces_id'] == [priv], 'private vm %r' % vm)
        expect(vm['ifaces'][0]['type'] == 'private' and vm['ifaces'][0]['state'] == 'used', 'private vm iface')
        self.priv_iface = priv

        # A private iface with a chosen address.
        op = self.call('hosting.iface.create', {'datacenter_id': self.dc_id, 'vlan': self.vlan_id, 'ip': '192.168.42.77'})
        self.wait(op, 'iface.create with ip')
        f = self.call('hosting.iface.info', op['iface_id'])
        expect([i['ip'] for i in f['ips']] == ['192.168.42.77'], 'chosen ip gave %r' % f['ips'])
        self.chosen_iface = op['iface_id']
        # The same address again is refused, outside the subnet too.
        try:
            self.s.hosting.iface.create(self.key, {'datacenter_id': self.dc_id, 'vlan': self.vlan_id, 'ip': '192.168.42.77'})
            raise Failure('iface.create with an address in use succeeded')
        except xmlrpc.client.Fault as e:
            expect(e.faultCode // 100 % 1000 == 303, 'address in use: fault %d %s' % (e.faultCode, e.faultString))
        # vlan.delete is refused while ifaces use it.
        f = self.fault(530538, 'hosting.vlan.delete', self.vlan_id)
        expect('OBJECT_VLAN' in f.faultString, 'vlan.delete fault %r' % f.faultString)

    def vm_lists(self):
        def ids(opts=None):
            lst = self.call('hosting.vm.list', *([opts] if opts is not None else []))
            for v in lst:
                check_shape('vm.list', v, VM_SHAPE)
                expect('disks' not in v and 'datacenter' not in v, 'vm.list elements are the list shape')
            return [v['id'] for v in lst]
        both = sorted([self.vm_id, self.vm2])
        expect(ids() == both, 'vm.list() %r' % ids())
        expect(ids({}) == both, 'vm.list({})')
        expect(ids({'hostname': 'flow1'}) == [self.vm_id], 'hostname filter %r' % ids({'hostname': 'flow1'}))
        expect(ids({'hostname': 'flow'}) == [], 'hostname is an exact match')
        expect(ids({'~hostname': 'flow%'}) == both, '~hostname LIKE %r' % ids({'~hostname': 'flow%'}))
        expect(ids({'~hostname': '%2'}) == [self.vm2], '~hostname %2')
        expect(ids({'state': 'running'}) == both, 'state running')
        expect(ids({'state': 'halted'}) == [], 'state halted')
        expect(ids({'sort_by': 'id DESC'}) == both[::-1], 'sort_by id DESC %r' % ids({'sort_by': 'id DESC'}))
        p0 = ids({'items_per_page': 1, 'page': 0, 'sort_by': 'id ASC'})
        p1 = ids({'items_per_page': 1, 'page': 1, 'sort_by': 'id ASC'})
        p2 = ids({'items_per_page': 1, 'page': 2, 'sort_by': 'id ASC'})
        expect(p0 == both[:1] and p1 == both[1:] and p2 == [], 'pages %r %r %r' % (p0, p1, p2))
        expect(ids({'id': [self.vm2, 99999999]}) == [self.vm2], 'id IN filter')
        expect(ids({'unknown_key_ignored': 'x'}) == both, 'unknown filter keys are ignored (D5)')
        c = self.call('hosting.vm.count')
        expect(type(c) is int and c == 2, 'vm.count %r' % c)
        expect(self.call('hosting.vm.count', {'hostname': 'flow2'}) == 1, 'vm.count hostname')
        expect(self.call('hosting.vm.count', {'state': 'halted'}) == 0, 'vm.count halted')

    def vm_update(self):
        op = self.call('hosting.vm.update', self.vm_id, {'memory': 512, 'cores': 2})
        self.check_op('vm.update', op, 'vm_update')
        expect(op['vm_id'] == self.vm_id, 'vm_update vm_id %r' % op['vm_id'])
        self.wait(op, 'vm.update memory/cores')
        vm = self.call('hosting.vm.info', self.vm_id)
        expect(vm['memory'] == 512 and vm['cores'] == 2 and vm['state'] == 'running',
               'after update: memory %r cores %r state %r' % (vm['memory'], vm['cores'], vm['state']))
        # Over vm_max_memory without raising it: refused.
        self.fault(530137, 'hosting.vm.update', self.vm_id, {'memory': 4096})
        self.fault(530137, 'hosting.vm.update', self.vm_id, {'vm_max_memory': 3000})
        op = self.call('hosting.vm.update', self.vm_id, {'vm_max_memory': 4096})
        self.wait(op, 'vm.update vm_max_memory')
        vm = self.call('hosting.vm.info', self.vm_id)
        expect(vm['vm_max_memory'] == 4096 and vm['memory'] == 512 and vm['state'] == 'running',
               'after vm_max_memory: %r %r %r' % (vm['vm_max_memory'], vm['memory'], vm['state']))

    def disks(self):
        op = self.call('hosting.disk.create', {'name': 'flowdata', 'size': 1024, 'datacenter_id': self.dc_id})
        self.check_op('disk.create', op, 'disk_create')
        expect(type(op['disk_id']) is int, 'disk_create disk_id %r' % op['disk_id'])
        self.data_disk = op['disk_id']
        d = self.call('hosting.disk.info', self.data_disk)
        check_shape('disk.info (being created)', d, DISK_INFO_SHAPE)
        expect(d['state'] in ('being_created', 'created'), 'new disk state %r' % d['state'])
        self.wait(op, 'disk.create')
        d = self.call('hosting.disk.info', self.data_disk)
        check_shape('disk.info', d, DISK_INFO_SHAPE)
        check_shape('disk.info datacenter', d['datacenter'], DC_SHAPE)
        expect(d['size'] == 1024 and d['type'] == 'data' and d['state'] == 'created' and d['vms_id'] == []
               and d['is_boot_disk'] is False and d['can_snapshot'] is True and d['name'] == 'flowdata',
               'new data disk %r' % d)

        op = self.call('hosting.vm.disk_attach', self.vm_id, self.data_disk)
        self.check_op('vm.disk_attach', op, 'disk_attach')
        self.wait(op, 'disk_attach')
        vm = self.call('hosting.vm.info', self.vm_id)
        expect(vm['disks_id'] == [self.sys_disk, self.data_disk], 'disks_id after attach %r' % vm['disks_id'])
        expect(self.call('hosting.disk.info', self.data_disk)['vms_id'] == [self.vm_id], 'vms_id after attach')

        op = self.call('hosting.disk.update', self.data_disk, {'size': 2048})
        self.check_op('disk.update', op, 'disk_update')
        expect(op['disk_id'] == self.data_disk, 'disk_update disk_id')
        self.wait(op, 'disk.update grow')
        expect(self.call('hosting.disk.info', self.data_disk)['size'] == 2048, 'size after grow')
        f = self.fault(530437, 'hosting.disk.update', self.data_disk, {'size': 1024})
        expect('OBJECT_DISK (CAUSE_BADPARAMETER)' in f.faultString, 'shrink fault %r' % f.faultString)

        dl = self.call('hosting.disk.list', {'type': ['data']})
        for x in dl:
            check_shape('disk.list', x, DISK_SHAPE)
            expect('datacenter' not in x, 'disk.list shape has datacenter_id only')
        expect(sorted(x['id'] for x in dl) == sorted([self.sys_disk, self.vm2_disk(), self.data_disk]),
               'disk.list data %r' % [x['id'] for x in dl])
        expect([x['id'] for x in self.call('hosting.disk.list', {'vm_id': self.vm_id, 'sort_by': 'id ASC'})]
               == sorted([self.sys_disk, self.data_disk]), 'disk.list vm_id')
        expect([x['id'] for x in self.call('hosting.disk.list', {'name': 'flowdata'})] == [self.data_disk], 'disk.list name')
        expect(self.call('hosting.disk.count', {'type': 'data'}) == 3, 'disk.count data')

    def vm2_disk(self):
        return self.call('hosting.vm.info', self.vm2)['disks_id'][0]

    def snapshots(self):
        op = self.call('hosting.disk.create_from', {'name': 'flowsnap', 'type': 'snapshot'}, self.data_disk)
        self.check_op('disk.create_from snapshot', op, 'disk_create')
        self.snap = op['disk_id']
        self.wait(op, 'snapshot')
        s = self.call('hosting.disk.info', self.snap)
        check_shape('snapshot disk.info', s, DISK_INFO_SHAPE)
        expect(s['type'] == 'snapshot' and s['can_snapshot'] is False and s['source'] == self.data_disk
               and s['vms_id'] == [] and s['size'] == 2048, 'snapshot %r' % s)
        src = self.call('hosting.disk.info', self.data_disk)
        expect(self.snap in src['snapshots_id'], 'snapshots_id %r' % src['snapshots_id'])
        check_ids('snapshots_id', src['snapshots_id'])
        expect([x['id'] for x in self.call('hosting.disk.list', {'type': ['snapshot']})] == [self.snap], 'snapshot list')

        f = self.fault(530439, 'hosting.disk.rollback_from', self.snap)
        expect('OBJECT_DISK (CAUSE_ATTACHED)' in f.faultString, 'rollback fault %r' % f.faultString)
        self.fault(530439, 'hosting.disk.delete', self.data_disk)  # D15
        op = self.call('hosting.vm.disk_detach', self.vm_id, self.data_disk)
        self.check_op('vm.disk_detach', op, 'disk_detach')
        self.wait(op, 'disk_detach')
        d = self.call('hosting.disk.info', self.data_disk)
        expect(d['vms_id'] == [] and d['is_boot_disk'] is False, 'after detach %r' % d)
        op = self.call('hosting.disk.rollback_from', self.snap)
        self.check_op('disk.rollback_from', op)
        self.wait(op, 'rollback')
        expect(self.call('hosting.disk.info', self.data_disk)['state'] == 'created', 'state after rollback')

    def snapshot_profiles(self):
        # gandi snapshotprofile list: paas.snapshotprofile.list and hosting.snapshotprofile.list
        # through safe_call, each profile printed with id, name, kept_total (and target)
        self.fault(1, 'paas.snapshotprofile.list', {})  # not served; gandi.cli's safe_call swallows it
        profiles = self.call('hosting.snapshotprofile.list', {})
        expect(len(profiles) >= 1, 'snapshotprofile.list %r' % profiles)
        for p in profiles:
            check_shape('snapshotprofile.list', p, SNAPSHOT_PROFILE_SHAPE, exact=True)
            for sch in p['schedules']:
                check_shape('snapshot profile schedule', sch, {'name': str, 'kept_version': int}, exact=True)
            expect(p['kept_total'] == sum(sch['kept_version'] for sch in p['schedules']), 'kept_total %r' % p)
        byname = {p['name']: p for p in profiles}
        expect('minimal' in byname, 'profiles %r' % list(byname))
        minimal = byname['minimal']
        # gandi snapshotprofile info minimal: from_name lists {'name'}, then {'id'}
        expect([p['id'] for p in self.call('hosting.snapshotprofile.list', {'name': 'minimal'})] == [minimal['id']],
               'snapshotprofile.list name filter')
        expect(self.call('hosting.snapshotprofile.list', {'id': minimal['id']}) == [minimal], 'id filter')
        expect(self.call('hosting.snapshotprofile.info', minimal['id']) == minimal, 'snapshotprofile.info')
        self.fault(531342, 'hosting.snapshotprofile.info', 999)

        # gandi disk create --snapshotprofile ID (the choice is str(id), sent as int)
        self.fault(530437, 'hosting.disk.create', {'name': 'vdibadprofile', 'size': 3072, 'snapshot_profile': 999,
                                                   'datacenter_id': self.dc_id, 'type': 'data'})
        op = self.call('hosting.disk.create', {'name': 'vdiprofiled', 'size': 3072, 'snapshot_profile': minimal['id'],
                                               'datacenter_id': self.dc_id, 'type': 'data'})
        self.check_op('disk.create with a profile', op, 'disk_create')
        disk = op['disk_id']
        self.wait(op, 'disk.create with a profile')
        d = self.call('hosting.disk.info', disk)
        check_shape('disk.info with a profile', d, DISK_INFO_SHAPE)
        expect(d['snapshot_profile_id'] == minimal['id'] and d['snapshot_profile']['name'] == 'minimal'
               and d['snapshot_profile']['id'] == minimal['id'], 'disk.info profile %r' % d['snapshot_profile'])
        listed = self.call('hosting.disk.list', {'name': 'vdiprofiled'})
        expect([x['snapshot_profile_id'] for x in listed] == [minimal['id']], 'disk.list profile %r' % listed)
        # gandi disk update --delete-snapshotprofile sends snapshot_profile = ''
        op = self.call('hosting.disk.update', disk, {'snapshot_profile': ''})
        self.wait(op, 'disk.update --delete-snapshotprofile')
        d = self.call('hosting.disk.info', disk)
        expect(d['snapshot_profile'] is None and d['snapshot_profile_id'] is None, 'profile removed %r' % d)
        # the scheduler may have taken one by now: leave nothing behind
        for sid in d['snapshots_id']:
            self.wait(self.call('hosting.disk.delete', sid), 'delete scheduled snapshot')
        self.wait(self.call('hosting.disk.delete', disk), 'delete profiled disk')

    def kernels(self):
        k = self.call('hosting.disk.list_kernels', self.dc_id)
        expect(type(k) is dict and k, 'list_kernels %r' % k)
        names = []
        for flavor, lst in k.items():
            expect(type(lst) is list and all(type(n) is str for n in lst), 'list_kernels[%s] %r' % (flavor, lst))
            names += lst
        expect(names, 'no kernel at all')
        op = self.call('hosting.disk.update', self.data_disk,
                       {'cmdline': 'root=/dev/vda1 console=ttyS0 nosep ro', 'kernel': names[0]})
        self.wait(op, 'disk.update cmdline')
        d = self.call('hosting.disk.info', self.data_disk)
        want = {'root': '/dev/vda1', 'console': 'ttyS0', 'nosep': True, 'ro': True}
        expect(d['kernel_cmdline'] == want, 'kernel_cmdline %r, want %r' % (d['kernel_cmdline'], want))
        expect(all(type(v) is bool for v in (d['kernel_cmdline']['nosep'], d['kernel_cmdline']['ro'])),
               'bare flags must be booleans')
        expect(d['kernel_version'] == names[0], 'kernel_version %r' % d['kernel_version'])
        self.fault(530437, 'hosting.disk.update', self.data_disk, {'kernel': 'no-such-kernel'})
        # The struct form is accepted too, and read back the same way.
        op = self.call('hosting.disk.update', self.data_disk, {'cmdline': {'console': 'hvc0', 'quiet': True, 'ro': True}})
        self.wait(op, 'disk.update cmdline struct')
        got = self.call('hosting.disk.info', self.data_disk)['kernel_cmdline']
        expect(got == {'console': 'hvc0', 'quiet': True, 'ro': True}, 'kernel_cmdline from a struct: %r' % got)
        # Re-attach it: vm.delete must detach it, not delete it.
        op = self.call('hosting.vm.disk_attach', self.vm_id, self.data_disk)
        self.wait(op, 'disk re-attach')

    def ifaces(self):
        op = self.call('hosting.iface.create', {'datacenter_id': self.dc_id, 'ip_version': 4, 'bandwidth': 10240})
        self.check_op('iface.create', op, 'iface_create')
        expect(type(op['iface_id']) is int and type(op['ip_id']) is int, 'iface_create ids %r' % op)
        fid = op['iface_id']
        self.wait(op, 'iface.create')
        f = self.call('hosting.iface.info', fid)
        check_shape('iface.info', f, IFACE_INFO_SHAPE)
        expect(f['state'] == 'free' and f['vm_id'] is None and f['num'] is None and f['type'] == 'public'
               and f['bandwidth'] == 10240.0 and f['vlan'] is None, 'new iface %r' % f)
        expect([ip['version'] for ip in f['ips']] == [4, 6] and f['ips_id'] == [ip['id'] for ip in f['ips']],
               'new iface ips %r' % f['ips'])
        expect(f['ips'][0]['id'] == op['ip_id'], 'iface_create ip_id is the first ip')
        op = self.call('hosting.vm.iface_attach', self.vm_id, fid)
        self.check_op('vm.iface_attach', op, 'iface_attach')
        self.wait(op, 'iface_attach')
        f = self.call('hosting.iface.info', fid)
        expect(f['state'] == 'used' and f['vm_id'] == self.vm_id and f['num'] == 1, 'attached iface %r' % f)
        expect(all(ip['vm_id'] == self.vm_id for ip in f['ips']), 'ip vm_id after attach')
        expect(self.call('hosting.vm.info', self.vm_id)['ifaces_id'] == [self.iface0, fid], 'ifaces_id after attach')
        op = self.call('hosting.iface.update', fid, {'bandwidth': 20480.0})
        self.wait(op, 'iface.update')
        expect(self.call('hosting.iface.info', fid)['bandwidth'] == 20480.0, 'bandwidth after update')
        op = self.call('hosting.vm.iface_detach', self.vm_id, fid)
        self.check_op('vm.iface_detach', op, 'iface_detach')
        self.wait(op, 'iface_detach')
        f = self.call('hosting.iface.info', fid)
        expect(f['state'] == 'free' and f['vm_id'] is None and f['num'] is None, 'detached iface %r' % f)
        ip_ids = f['ips_id']
        op = self.call('hosting.iface.delete', fid)
        self.check_op('iface.delete', op, 'iface_delete')
        self.wait(op, 'iface.delete')
        self.fault(530242, 'hosting.iface.info', fid)
        for i in ip_ids:
            self.fault(530342, 'hosting.ip.info', i)
        lst = self.call('hosting.iface.list')
        for x in lst:
            check_shape('iface.list', x, IFACE_SHAPE)
        expect(sorted(x['id'] for x in lst) == sorted([self.iface0, self.priv_iface, self.chosen_iface]),
               'iface.list %r' % [x['id'] for x in lst])
        expect(self.call('hosting.iface.count', {'vm_id': self.vm_id}) == 1, 'iface.count vm_id')

    def ips(self):
        lst = self.call('hosting.ip.list', {'iface_id': [self.iface0]})
        for x in lst:
            check_shape('ip.list', x, IP_SHAPE)
            expect('datacenter' not in x, 'ip.list shape')
        expect([(x['version'], x['num']) for x in lst] == [(4, 0), (6, 1)], 'ip.list iface_id %r' % lst)
        expect([x['id'] for x in self.call('hosting.ip.list', {'version': 4, 'iface_id': self.iface0})] == [self.ipv4_id],
               'ip.list version int')
        expect([x['id'] for x in self.call('hosting.ip.list', {'version': '4', 'iface_id': self.iface0})] == [self.ipv4_id],
               'ip.list version string')
        expect([x['id'] for x in self.call('hosting.ip.list', {'ip': self.ipv4})] == [self.ipv4_id], 'ip.list ip')
        expect(self.call('hosting.ip.count', {'vm_id': self.vm_id}) == 2, 'ip.count vm_id')
        op = self.call('hosting.ip.update', self.ipv4_id, {'reverse': 'flow1.example.org.'})
        self.check_op('ip.update', op, 'ip_update')
        expect(op['ip_id'] == self.ipv4_id, 'ip_update ip_id')
        self.wait(op, 'ip.update')
        ip = self.call('hosting.ip.info', self.ipv4_id)
        check_shape('ip.info', ip, IP_INFO_SHAPE)
        expect(ip['reverse'] in ('flow1.example.org.', 'flow1.example.org'), 'reverse %r' % ip['reverse'])
        expect(ip['datacenter']['id'] == self.dc_id, 'ip.info datacenter')
        self.fault(530337, 'hosting.ip.update', self.ipv4_id, {'reverse': 'not a name'})

    def operations(self):
        pending = self.call('operation.list', {'step': ['BILL', 'WAIT', 'RUN'], 'sort_by': 'date_created DESC'})
        expect(type(pending) is list, 'operation.list %r' % pending)
        for o in pending:
            check_shape('operation.list pending', o, OP_FULL_SHAPE)
            expect(o['step'] in NON_TERMINAL, 'step filter let %r through' % o['step'])
        allops = self.call('operation.list', {'sort_by': 'date_created DESC', 'items_per_page': 500})
        for o in allops:
            check_shape('operation.list', o, OP_FULL_SHAPE)
            expect(o['source'] == self.handle, 'operation source %r' % o['source'])
        dates = [o['date_created'] for o in allops]
        expect(dates == sorted(dates, reverse=True), 'date_created DESC is not descending')
        n = self.call('operation.count')
        expect(type(n) is int and n == len(allops), 'operation.count %r vs %d listed' % (n, len(allops)))
        expect(n >= self.ops_done, 'operation.count %d < %d operations waited for' % (n, self.ops_done))
        done = self.call('operation.count', {'step': 'DONE'})
        expect(done >= self.ops_done, 'operation.count DONE %d' % done)
        vc = self.call('operation.list', {'type': 'vm_create'})
        expect(sorted(o['vm_id'] for o in vc) == sorted([self.vm_id, self.vm2]), 'operation.list type vm_create')
        expect(all(o['params'].get('vm_id') == o['vm_id'] for o in vc), 'vm_create params.vm_id (D8)')
        expect([o['id'] for o in self.call('operation.list', {'vm_id': self.vm2, 'type': 'vm_create'})]
               == [o['id'] for o in vc if o['vm_id'] == self.vm2], 'operation.list vm_id filter')
        self.fault(530942, 'operation.info', 99999999)

    def delete_vm(self):
        self.fault(530138, 'hosting.vm.delete', self.vm_id)   # running: stop it first
        op = self.call('hosting.vm.stop', self.vm_id)
        self.check_op('vm.stop', op, 'vm_stop')
        self.wait(op, 'vm.stop')
        expect(self.call('hosting.vm.info', self.vm_id)['state'] == 'halted', 'state after stop')
        expect([v['id'] for v in self.call('hosting.vm.list', {'state': 'halted'})] == [self.vm_id], 'list halted')
        op = self.call('hosting.vm.delete', self.vm_id)
        self.check_op('vm.delete', op, 'vm_delete')
        self.wait(op, 'vm.delete')
        self.fault(530142, 'hosting.vm.info', self.vm_id)
        self.fault(530442, 'hosting.disk.info', self.sys_disk)
        self.fault(530242, 'hosting.iface.info', self.iface0)
        self.fault(530342, 'hosting.ip.info', self.ipv4_id)
        d = self.call('hosting.disk.info', self.data_disk)
        expect(d['vms_id'] == [] and d['is_boot_disk'] is False and d['state'] == 'created',
               'data disk after vm.delete %r' % d)
        expect(self.call('hosting.vm.count') == 1, 'vm.count after delete')

    def legacy(self):
        base = self.url.rstrip('/')
        expect(base.endswith('/xmlrpc'), 'URL %r does not end in /xmlrpc/' % self.url)
        old = xmlrpc.client.ServerProxy(base + '/2.0/', allow_none=True, use_datetime=True)
        vms = old.vm.list(self.key)
        expect([v['id'] for v in vms] == [v['id'] for v in self.call('hosting.vm.list')], 'vm.list on /2.0/ %r' % vms)
        expect(old.datacenter.list(self.key) == self.call('hosting.datacenter.list'), 'datacenter.list on /2.0/')
        expect(old.disk.info(self.key, self.data_disk)['id'] == self.data_disk, 'disk.info on /2.0/')
        expect(self.s.vm.count(self.key) == self.call('hosting.vm.count') == 2, 'vm.count alias on /xmlrpc/')
        self.fault(530142, 'vm.info', 99999999, proxy=old)

    def multicall(self):
        mc = xmlrpc.client.MultiCall(self.s)
        mc.version.info(self.key)
        mc.hosting.vm.count(self.key)
        mc.hosting.vm.info(self.key, 99999999)
        mc.hosting.disk.info(self.key, self.data_disk)
        res = mc()
        got = []
        try:
            for r in res:
                got.append(r)
            raise Failure('multicall: no fault for vm.info(99999999)')
        except xmlrpc.client.Fault as f:
            expect(f.faultCode == 530142, 'multicall fault %d %s' % (f.faultCode, f.faultString))
        expect(len(got) == 2 and got[0]['api_version'] and got[1] == 2, 'multicall results %r' % got)
        expect(res[3]['id'] == self.data_disk and type(res[3]['date_created']) is DT, 'multicall result 4 %r' % res[3])

    def faults(self):
        f = self.fault(530142, 'hosting.vm.info', 99999999)
        expect(f.faultString == 'Error on object : OBJECT_VM (CAUSE_NOTFOUND) [vm 99999999 not found]',
               'faultString %r' % f.faultString)
        f = self.fault(510150, 'hosting.vm.list', key='a' * 24)
        expect(f.faultString == 'Error on object : OBJECT_ACCOUNT (CAUSE_NORIGHT) [Invalid API key]', f.faultString)
        f = self.fault(500037, 'hosting.vm.list', key='https://rpc.gandi.net/xmlrpc')
        expect("does not match '^[a-z0-9]{24}$'" in f.faultString and 'OBJECT_UNKNOWN' in f.faultString, f.faultString)
        f = self.fault(501237, 'hosting.vm.list', key='')
        expect(f.faultString == "Error on object : OBJECT_STRING (CAUSE_BADPARAMETER) [string '' does not match "
               "'^[a-z0-9]{24}$']", f.faultString)
        self.fault(1, 'hosting.vm.nosuchmethod')
        self.fault(1, 'nosuch')
        self.fault(530442, 'hosting.disk.info', 99999999)
        self.fault(530542, 'hosting.vlan.info', 99999999)
        self.fault(530642, 'hosting.ssh.info', 99999999)
        self.fault(530742, 'hosting.image.info', 99999999)

    def cleanup_checks(self):
        # The vlan still refuses deletion; free its ifaces, then it goes.
        self.fault(530538, 'hosting.vlan.delete', self.vlan_id)
        op = self.call('hosting.vm.stop', self.vm2)
        self.wait(op, 'vm2 stop')
        op = self.call('hosting.vm.delete', self.vm2)
        self.wait(op, 'vm2 delete')
        self.fault(530242, 'hosting.iface.info', self.priv_iface)   # first iface goes with the vm
        op = self.call('hosting.iface.delete', self.chosen_iface)
        self.wait(op, 'chosen iface delete')
        op = self.call('hosting.vlan.delete', self.vlan_id)
        check_shape('vlan.delete', op, OP_FULL_SHAPE)
        self.wait(op, 'vlan.delete')
        self.fault(530542, 'hosting.vlan.info', self.vlan_id)
        a = self.call('hosting.account.info')
        expect(a['credits'] <= self.credits0, 'credits grew from %d to %d' % (self.credits0, a['credits']))

    def main(self):
        for name in ('basics', 'datacenters', 'images', 'ssh_keys', 'create_vm', 'private_vm', 'vm_lists',
                     'vm_update', 'disks', 'snapshots', 'snapshot_profiles', 'kernels', 'ifaces', 'ips', 'operations', 'legacy',
                     'multicall', 'faults', 'delete_vm', 'cleanup_checks'):
            self.run(name, getattr(self, name))


def main():
    if len(sys.argv) != 3:
        print('usage: gandi_flow.py URL KEY', file=sys.stderr)
        return 2
    flow = Flow(sys.argv[1], sys.argv[2])
    t0 = time.monotonic()
    failed = None
    try:
        flow.main()
    except Failure as e:
        failed = 'FAIL in step %s: %s' % (flow.step, e)
    except Exception:   # a decoding error (bad date format, bad XML) or a transport error
        failed = 'FAIL in step %s: unexpected exception:\n%s' % (flow.step, traceback.format_exc())
    for name, secs in flow.timings:
        print('%-16s %6.2f s' % (name, secs))
    if failed:
        print(failed)
        return 1
    print('OK: %d steps, %d operations waited for, %.2f s' % (len(flow.timings), flow.ops_done, time.monotonic() - t0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
