// Berth web console: xterm.js on the VM's serial console WebSocket, reconnecting.
(function () {
  var el = document.getElementById("terminal");
  var status = document.getElementById("console-status");
  var term = new Terminal({ scrollback: 5000, convertEol: false, cursorBlink: true, fontSize: 14,
    theme: { background: "#0f172a", foreground: "#e2e8f0" } });
  var fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  window.addEventListener("resize", function () { fit.fit(); });
  window.berthTerm = term;
  var enc = new TextEncoder();
  var ws = null;
  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + "/vms/" + el.dataset.vm + "/console/ws");
    ws.binaryType = "arraybuffer";
    ws.onopen = function () { status.textContent = "connected"; status.className = "badge ok"; term.focus(); };
    ws.onmessage = function (ev) {
      term.write(typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data));
    };
    ws.onclose = function (ev) {
      status.textContent = "disconnected" + (ev.reason ? ": " + ev.reason : "") + " · retrying";
      status.className = "badge warn";
      setTimeout(connect, 3000);
    };
  }
  term.onData(function (d) { if (ws && ws.readyState === 1) ws.send(enc.encode(d)); });
  connect();
})();
