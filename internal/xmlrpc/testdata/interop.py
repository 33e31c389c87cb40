"""Interop check of internal/xmlrpc against Python's xmlrpc.client.

Run by TestPythonInterop with the base URL of a test server. It uses the
settings of gandi.cli (allow_none=True, use_datetime=True), prints one line
per failed check on stderr and exits 1 if any check failed.
"""

import datetime
import sys
import xmlrpc.client as xc

BASE = sys.argv[1]
failures = []
count = 0


def check(name, got, want):
    global count
    count += 1
    if type(got) is not type(want) or got != want:
        failures.append("%s: got %r (%s), want %r (%s)" % (
            name, got, type(got).__name__, want, type(want).__name__))


def check_fault(name, fn, code, string):
    global count
    count += 1
    try:
        got = fn()
    except xc.Fault as f:
        if type(f.faultCode) is not int or f.faultCode != code or f.faultString != string:
            failures.append("%s: got Fault(%r, %r), want Fault(%r, %r)" % (
                name, f.faultCode, f.faultString, code, string))
        return
    failures.append("%s: got %r, want a Fault" % (name, got))


p = xc.ServerProxy(BASE + "/xmlrpc/", allow_none=True, use_datetime=True)
when = datetime.datetime(2018, 5, 18, 17, 21, 59)
text = "h\u00e9llo \u2603 \U0001D11E <&> ]]> \"q\" 'a'\n\ttab"

# Scalars sent by Python and echoed back.
check("none", p.echo1(None), None)
check("true", p.echo1(True), True)
check("false", p.echo1(False), False)
check("int", p.echo1(42), 42)
check("negative int", p.echo1(-7), -7)
check("int32 max", p.echo1(2**31 - 1), 2**31 - 1)
check("int32 min", p.echo1(-2**31), -2**31)
check("double", p.echo1(1.5), 1.5)
check("integral double", p.echo1(102400.0), 102400.0)
check("empty string", p.echo1(""), "")
check("unicode", p.echo1(text), text)
check("datetime", p.echo1(when), when)
blob = bytes(range(256)) * 4  # long enough for Python to wrap the base64 lines
got = p.echo1(xc.Binary(blob))
check("binary type", type(got).__name__, "Binary")
check("binary data", getattr(got, "data", None), blob)
check("empty binary", p.echo1(xc.Binary(b"")).data, b"")

# Containers.
nested = {
    "a": [1, {"b": [None, True, 1.5, "x", when]}],
    "empty list": [],
    "empty struct": {},
    "a<&>b": {"vlan": None, "deep": [[[[]]]]},
    "\u00e9t\u00e9": text,
}
check("nested", p.echo1(nested), nested)
check("tuple becomes list", p.echo1((1, 2)), [1, 2])
check("several params", p.echo(1, "two", None), [1, "two", None])
check("no params", p.echo(), [])

# What the Go side decoded from Python's encoding.
check("decoded types",
      p.types(None, True, 1, 1.5, "s", when, xc.Binary(b"x"), [1], {"a": 1}),
      ["nil", "boolean", "int", "double", "string", "dateTime.iso8601",
       "base64", "array", "struct"])

# Values produced by the Go server.
check("big ints", p.big(),
      [2**31 - 1, 2**31, -2**31 - 1, 2**40, -2**62, 2**63 - 1])
check("server values", p.server_values(), {
    "bandwidth": 102400.0,
    "date": datetime.datetime(2012, 6, 29, 11, 48, 20),
    "nothing": None,
    "ok": True,
    "id": 10895,
    "bytes": xc.Binary(b"\x00\x01hi"),
})

# Faults.
check_fault("fault", p.fail, 530439,
            "Error on object : OBJECT_DISK (CAUSE_ATTACHED) [disk#1 is attached]")
check_fault("unknown method", p.no.such.method, 1, 'Method "no.such.method" is not supported')
check_fault("panic", p.boom, -32500, "internal error")

# Introspection.
methods = p.system.listMethods()
check("listMethods has echo", "echo1" in methods, True)
check("listMethods has multicall", "system.multicall" in methods, True)
check("methodHelp", p.system.methodHelp("echo1"), "")

# MultiCall: results and faults interleaved.
mc = xc.MultiCall(p)
mc.echo1(1)
mc.fail()
mc.echo1({"k": None})
mc.no.such.method()
mc.big()
res = mc()
check("multicall 0", res[0], 1)
check_fault("multicall 1", lambda: res[1], 530439,
            "Error on object : OBJECT_DISK (CAUSE_ATTACHED) [disk#1 is attached]")
check("multicall 2", res[2], {"k": None})
check_fault("multicall 3", lambda: res[3], 1, 'Method "no.such.method" is not supported')
check("multicall 4", res[4], [2**31 - 1, 2**31, -2**31 - 1, 2**40, -2**62, 2**63 - 1])

# Other mount points, and Python's default settings (no use_datetime).
for path in ("/xmlrpc", "/xmlrpc/2.0/"):
    q = xc.ServerProxy(BASE + path, allow_none=True, use_datetime=True)
    check("path " + path, q.echo1(path), path)
d = xc.ServerProxy(BASE + "/xmlrpc/", allow_none=True)
got = d.echo1(when)
check("DateTime without use_datetime", getattr(got, "value", None), "20180518T17:21:59")

if failures:
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    sys.exit(1)
print("interop ok: %d checks" % count)
