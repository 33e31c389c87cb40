#!/usr/bin/python3
"""Real clients over berthd's HTTPS API with a local CA (berthd admin tls init).

Usage: tls_clients.py URL KEY CAFILE

1. Python's xmlrpc.client as gandi.cli sets it up (allow_none, use_datetime), with an SSL
   context trusting only CAFILE: account and VM calls work; without the CA the handshake
   is refused (certificate verification), so the test would see a server without TLS or
   with the wrong certificate.
2. Debian's libcloud GandiNodeDriver with secure=True: libcloud reads the CA bundle from
   SSL_CERT_FILE (libcloud.security.CA_CERTS_PATH), which the caller sets to CAFILE.
"""

import os
import ssl
import sys
import urllib.parse
import xmlrpc.client

url, key, cafile = sys.argv[1:4]

ctx = ssl.create_default_context(cafile=cafile)
api = xmlrpc.client.ServerProxy(url, allow_none=True, use_datetime=True, context=ctx)
acc = api.hosting.account.info(key)
assert acc["handle"], acc
print("xmlrpc.client over TLS: account", acc["handle"], "vms", len(api.hosting.vm.list(key)))

try:
    bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, trusts no CA (SSL_CERT_FILE is the CA here)
    xmlrpc.client.ServerProxy(url, context=bare).hosting.account.info(key)
    sys.exit("a client without the CA trusted berthd's certificate")
except ssl.SSLCertVerificationError as e:
    print("without the CA: refused as expected:", e.reason)

try:
    api.hosting.account.info("0" * 24)
    sys.exit("a wrong key was accepted")
except xmlrpc.client.Fault as f:
    print("wrong key over TLS: fault", f.faultCode)

assert os.environ.get("SSL_CERT_FILE") == cafile, "SSL_CERT_FILE must be the CA file"
from libcloud.compute.drivers.gandi import GandiNodeDriver  # noqa: E402 (reads SSL_CERT_FILE)

u = urllib.parse.urlparse(url)
d = GandiNodeDriver(key, secure=True)
d.connection.host = u.hostname
d.connection.port = u.port
d.connection.connect()
locs = d.list_locations()
assert locs, "no locations"
sizes = d.list_sizes()
print("libcloud secure=True: %d locations, %d sizes, %d nodes" % (len(locs), len(sizes), len(d.list_nodes())))
