"""Validates a SARIF log (the file named as the argument) against the SARIF 2.1.0 schema beside this file.

Prints "valid" and exits 0, or prints the first error with its JSON path and exits 1.
Uses the jsonschema package from PyPI (Draft 4, which the schema declares)."""
import json
import os
import sys

import jsonschema

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "sarif-schema-2.1.0.json"), encoding="utf-8") as f:
    schema = json.load(f)
with open(sys.argv[1], encoding="utf-8") as f:
    log = json.load(f)
validator = jsonschema.Draft4Validator(schema)
errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
if errors:
    e = errors[0]
    print("invalid at /" + "/".join(str(p) for p in e.absolute_path) + ": " + e.message)
    sys.exit(1)
print("valid")
