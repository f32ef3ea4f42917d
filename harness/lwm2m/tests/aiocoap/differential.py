"""aiocoap's side of the differential check of the m2mspec CoAP codec.

Run by harness/lwm2m/tests/aiocoap_differential.rs with the venv's python
(setup.sh). Reads one JSON document on stdin:

    {"decode": ["<hex>", ...],      # bytes m2mspec encoded: aiocoap decodes them
     "encode": [<spec>, ...]}       # messages aiocoap builds and encodes

where <spec> is
    {"type": 0-3, "code": 0-255, "mid": 0-65535, "token": "<hex>", "payload": "<hex>",
     "options": [{"number": n, "kind": "string" | "uint" | "block" | "opaque",
                  "value": str | int | [num, more, szx] | "<hex>"}, ...]}

and writes one JSON document on stdout:

    {"aiocoap": "<version>",
     "decoded": [{"ok": true, "version", "type", "code", "mid", "token", "payload",
                  "options": [{"number", "raw", "format", "value"}],
                  "views": {"uri_path": [...], "block2": [num, more, szx] | null, ...}}
                 | {"ok": false, "error": "..."}, ...],
     "encoded": ["<hex>" | {"error": "..."}, ...]}

Each typed value is what aiocoap's own option classes make of the bytes; the Rust
side compares them field by field with what m2mspec decoded.
"""

import importlib.metadata
import json
import sys
import warnings

from aiocoap.message import Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.optionnumbers import OptionNumber
from aiocoap.numbers.types import Type
from aiocoap.optiontypes import (
    BlockOption,
    ContentFormatOption,
    OpaqueOption,
    StringOption,
    UintOption,
)

warnings.simplefilter("ignore", DeprecationWarning)


def typed(option):
    """(format, JSON value) of one decoded option, as aiocoap's class reads it."""
    if isinstance(option, BlockOption):
        v = option.value
        return "block", [v.block_number, bool(v.more), v.size_exponent]
    if isinstance(option, ContentFormatOption):
        return "uint", int(option.value)
    if isinstance(option, UintOption):
        return "uint", int(option.value)
    if isinstance(option, StringOption):
        return "string", option.value
    if isinstance(option, OpaqueOption):
        return "opaque", bytes(option.value).hex()
    return type(option).__name__, None


def block_view(value):
    if value is None:
        return None
    return [value.block_number, bool(value.more), value.size_exponent]


def uint_view(value):
    return None if value is None else int(value)


def decode(hex_bytes):
    try:
        msg = Message.decode(bytes.fromhex(hex_bytes))
        options = []
        for option in msg.opt.option_list():
            fmt, value = typed(option)
            options.append(
                {
                    "number": int(option.number),
                    "raw": option.encode().hex(),
                    "format": fmt,
                    "value": value,
                }
            )
        return {
            "ok": True,
            "version": msg.version,
            "type": int(msg.mtype),
            "code": int(msg.code),
            "mid": msg.mid,
            "token": bytes(msg.token).hex(),
            "payload": bytes(msg.payload).hex(),
            "options": options,
            "views": {
                "uri_path": list(msg.opt.uri_path),
                "uri_query": list(msg.opt.uri_query),
                "location_path": list(msg.opt.location_path),
                "content_format": uint_view(msg.opt.content_format),
                "accept": uint_view(msg.opt.accept),
                "size1": uint_view(msg.opt.size1),
                "observe": uint_view(msg.opt.observe),
                "block1": block_view(msg.opt.block1),
                "block2": block_view(msg.opt.block2),
            },
        }
    except Exception as e:  # noqa: BLE001 - every failure is a finding for the Rust side
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def encode(spec):
    try:
        msg = Message(
            _mtype=Type(spec["type"]),
            _mid=spec["mid"],
            code=Code(spec["code"]),
            _token=bytes.fromhex(spec["token"]),
            payload=bytes.fromhex(spec["payload"]),
        )
        for o in spec["options"]:
            number = OptionNumber(o["number"])
            kind, value = o["kind"], o["value"]
            if kind == "block":
                value = BlockOption.BlockwiseTuple(value[0], bool(value[1]), value[2])
            elif kind == "opaque":
                value = bytes.fromhex(value)
            option = number.create_option(value=value)
            # aiocoap's option class for this number must agree with the kind m2mspec uses.
            fmt, _ = typed(option)
            if fmt != kind:
                raise TypeError(f"option {o['number']}: aiocoap format {fmt}, spec says {kind}")
            msg.opt.add_option(option)
        return msg.encode().hex()
    except Exception as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    request = json.load(sys.stdin)
    json.dump(
        {
            "aiocoap": importlib.metadata.version("aiocoap"),
            "decoded": [decode(h) for h in request.get("decode", [])],
            "encoded": [encode(s) for s in request.get("encode", [])],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
