#!/usr/bin/env python3
"""A gateway in front of a model, calling credit-ledger the way it expects to be called.

Before each model call it authorizes an estimate on the customer's account; after the call it
captures what the call really used, which releases the rest of the hold; if the call fails it
releases the hold. A call answered UNAVAILABLE or DEADLINE_EXCEEDED is retried with the same
idempotency key, so it takes effect once whatever became of the first try.

The client code is generated from the service's proto files (`proto/` at the repository's root)
with grpcio-tools, into a directory of its own, the first time the script runs.

Environment:
  CREDIT_LEDGER_SERVER   host:port of the service (default 127.0.0.1:50051)
  CREDIT_LEDGER_API_KEY  a key with role gateway, sent as `authorization: Bearer <key>`
  CREDIT_LEDGER_TLS_CA   a PEM file of the CA that signed the server's certificate: TLS on
  CREDIT_LEDGER_STUBS    where the generated code goes (default: ./gen beside this script)
  GATEWAY_FLAKY          "1": every call's first try gets a deadline too short to be met, so
                         each is retried (a rehearsal of the retry path)

Usage: gateway.py ACCOUNT_EXTERNAL_ID CALLS
Prints one JSON line: what was authorized, captured, released and charged.
"""

import json
import os
import pathlib
import sys
import time
import uuid

import grpc

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE.parent.parent / "proto"
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
ATTEMPTS = 8


def stubs():
    """Generates the client code from the proto files once, and imports it."""
    out = pathlib.Path(os.environ.get("CREDIT_LEDGER_STUBS", HERE / "gen"))
    if not (out / "creditledger" / "v1" / "usage_pb2_grpc.py").exists():
        from grpc_tools import protoc
        import grpc_tools

        out.mkdir(parents=True, exist_ok=True)
        well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
        files = sorted(str(p) for p in (PROTO / "creditledger" / "v1").glob("*.proto"))
        args = ["protoc", f"-I{PROTO}", f"-I{well_known}", f"--python_out={out}",
                f"--grpc_python_out={out}", *files]
        if protoc.main(args) != 0:
            sys.exit("generating the client code from proto/ failed")
    sys.path.insert(0, str(out))
    from creditledger.v1 import common_pb2, usage_pb2, usage_pb2_grpc

    return common_pb2, usage_pb2, usage_pb2_grpc


def channel():
    target = os.environ.get("CREDIT_LEDGER_SERVER", "127.0.0.1:50051")
    ca = os.environ.get("CREDIT_LEDGER_TLS_CA")
    if ca:
        credentials = grpc.ssl_channel_credentials(pathlib.Path(ca).read_bytes())
        return grpc.secure_channel(target, credentials)
    return grpc.insecure_channel(target)


class Ledger:
    """The Usage service with the key sent on every call and retries that keep the key."""

    def __init__(self, usage_pb2, usage_pb2_grpc):
        self.pb = usage_pb2
        self.stub = usage_pb2_grpc.UsageStub(channel())
        key = os.environ.get("CREDIT_LEDGER_API_KEY")
        self.metadata = [("authorization", f"Bearer {key}")] if key else []
        self.flaky = os.environ.get("GATEWAY_FLAKY") == "1"
        self.retries = 0

    def call(self, method, request):
        """Calls until answered, retrying what a retry may cure with the same request (and so
        the same idempotency key); any other error is the caller's to handle."""
        for attempt in range(ATTEMPTS):
            timeout = 0.000001 if self.flaky and attempt == 0 else 10.0
            try:
                return getattr(self.stub, method)(request, timeout=timeout,
                                                  metadata=self.metadata)
            except grpc.RpcError as error:
                if error.code() not in RETRYABLE or attempt == ATTEMPTS - 1:
                    raise
                self.retries += 1
                time.sleep(min(0.05 * 2 ** attempt, 1.0))
        raise AssertionError("unreachable")


def model_call(i):
    """Stands in for the model: what it used, or None when it failed."""
    if i % 5 == 4:
        return None
    return str(3 + i % 4)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    account, calls = sys.argv[1], int(sys.argv[2])
    common_pb2, usage_pb2, usage_pb2_grpc = stubs()
    ledger = Ledger(usage_pb2, usage_pb2_grpc)
    ref = common_pb2.AccountRef(external_id=account)
    run = uuid.uuid4().hex
    summary = {"authorized": 0, "captured": 0, "released": 0, "charged": 0, "retries": 0}
    for i in range(calls):
        hold = ledger.call("Authorize", usage_pb2.AuthorizeRequest(
            idempotency_key=f"{run}-auth-{i}", account=ref, quantity="10",
            meter="tokens", reference=f"request {i}")).hold
        summary["authorized"] += 1
        used = model_call(i)
        if used is None:
            ledger.call("Release", usage_pb2.ReleaseRequest(
                idempotency_key=f"{run}-release-{i}", hold_id=hold.hold_id))
            summary["released"] += 1
            continue
        captured = ledger.call("Capture", usage_pb2.CaptureRequest(
            idempotency_key=f"{run}-capture-{i}", hold_id=hold.hold_id, quantity=used,
            final=True))
        summary["captured"] += 1
        summary["charged"] += int(captured.charged)
    summary["retries"] = ledger.retries
    balance = ledger.call("GetBalance", usage_pb2.GetBalanceRequest(account=ref))
    summary["available"] = balance.available
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
