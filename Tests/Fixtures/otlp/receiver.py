#!/usr/bin/env python3
"""A small OTLP/HTTP traces receiver for the tests: every POST to /v1/traces is decoded into
OpenTelemetry's own ExportTraceServiceRequest (the opentelemetry-proto package from PyPI), as a
collector would, strictly: a field the schema does not know, or a value of the wrong type, is a
400 and an {"error": ...} line. Each span it accepts is written as one JSON line to OUT.

    receiver.py OUT    prints the port it listens on (127.0.0.1), then serves until killed
"""
import base64
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

OUT = sys.argv[1]
# A test process may start us with SIGTERM blocked (its threads' mask is inherited).
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})


def hex_ids_to_base64(document):
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping wants base64."""
    for resource in document.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        value = span[key]
                        expected = 32 if key == "traceId" else 16
                        if len(value) != expected or value != value.lower():
                            raise ValueError(f"{key} {value!r} is not {expected} lower-case hex digits")
                        span[key] = base64.b64encode(bytes.fromhex(value)).decode()
    return document


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def record(line):
    with open(OUT, "a") as out:
        out.write(json.dumps(line) + "\n")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = ExportTraceServiceRequest()
        try:
            if self.path != "/v1/traces":
                raise ValueError(f"posted to {self.path}, not /v1/traces")
            if self.headers.get("Content-Type", "").startswith("application/x-protobuf"):
                request.ParseFromString(body)
            else:
                json_format.Parse(json.dumps(hex_ids_to_base64(json.loads(body))), request)
        except Exception as error:  # noqa: BLE001 - every failure is the sender's
            record({"error": f"{type(error).__name__}: {error}"})
            self.send_response(400)
            self.end_headers()
            return
        for resource in request.resource_spans:
            service = next((value(a.value) for a in resource.resource.attributes if a.key == "service.name"), None)
            for scope in resource.scope_spans:
                for span in scope.spans:
                    record({
                        "service": service, "scope": scope.scope.name,
                        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex() or None, "name": span.name, "kind": span.kind,
                        "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                        "attributes": {a.key: value(a.value) for a in span.attributes},
                        "status_code": span.status.code, "status_message": span.status.message,
                    })
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
